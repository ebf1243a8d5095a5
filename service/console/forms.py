"""The console's forms (Flask-WTF): each carries a CSRF token tied to the session, checked on every POST.

Choices are set per request from the contract's vocabularies and the case (the statuses its status allows, the
accounts that are not excluded handlers); a value outside them fails validation before anything is written.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from complaint_triage.contract import CATEGORIES, DEPARTMENTS, REMEDIES, SEVERITIES


class Choice(StringField):
    """One value of ``allowed`` (set per request); the page renders it as a <select> with words in the UI's
    language. (WTForms' SelectField is not used: its choice format changes in 3.4.)"""

    def __init__(self, label: str, allowed: tuple[str, ...] = (), **kw: Any):
        super().__init__(label, **kw)
        self.allowed: tuple[str, ...] = tuple(allowed)

    def pre_validate(self, form: Any) -> None:
        if (self.data or "") not in self.allowed:
            raise ValidationError(f"not one of {', '.join(v or '(none)' for v in self.allowed)}")


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=400)])


class PlainForm(FlaskForm):
    """A button: nothing but the CSRF token (sign out, accept)."""


class CorrectForm(FlaskForm):
    category = Choice("Category", ("", *CATEGORIES))
    severity = Choice("Severity", ("", *SEVERITIES))
    department = Choice("Department", ("", *DEPARTMENTS))
    note = StringField("Note", validators=[Optional(), Length(max=2000)])

    def corrections(self) -> dict[str, str]:
        return {k: v for k, v in (("category", self.category.data), ("severity", self.severity.data),
                                  ("department", self.department.data)) if v}


class AssignForm(FlaskForm):
    assignee = Choice("Assignee")  # "" unassigns


class StatusForm(FlaskForm):
    status = Choice("Status")
    note = StringField("Note", validators=[Optional(), Length(max=2000)])


class NoteForm(FlaskForm):
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=2000)])


class ReplyForm(FlaskForm):
    text = TextAreaField("Reply", validators=[DataRequired(), Length(max=20_000)])


class ResolutionForm(FlaskForm):
    remedy = Choice("Remedy", REMEDIES)
    refund_amount = DecimalField("Refund amount", validators=[Optional(), NumberRange(min=0)], places=2)
    note = StringField("Note", validators=[Optional(), Length(max=2000)])


class SatisfactionForm(FlaskForm):
    score = IntegerField("Satisfaction", validators=[InputRequired(), NumberRange(min=1, max=5)])
