"""The console's pages: sign-in, the queue, a case, the dashboard and the policy, server-rendered.

Every change is a POST of a Flask-WTF form (CSRF-checked) that calls one case function (service/cases.py) with
the signed-in account as the actor, then redirects back to the page (post/redirect/get), with the outcome or the
refusal (the case function's reason) flashed on it.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from complaint_triage.contract import (
    CATEGORIES,
    DEPARTMENTS,
    LANGUAGES,
    REMEDIES,
    SEVERITIES,
    STATUS_TRANSITIONS,
)
from complaint_triage.masking import mask_identifier
from complaint_triage.service.console import charts, queries
from complaint_triage.service.console.accounts import Accounts
from complaint_triage.service.console.forms import (
    AssignForm,
    CorrectForm,
    LoginForm,
    NoteForm,
    PlainForm,
    ReplyForm,
    ResolutionForm,
    SatisfactionForm,
    StatusForm,
)
from complaint_triage.service.console.i18n import LANGUAGES as UI_LANGUAGES
from complaint_triage.service.console.i18n import current_language, label, translate
from complaint_triage.service.errors import ApiError
from complaint_triage.service.store import Store

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                    static_folder="static", static_url_path="/static")
PAGE = 50
OPEN_STATUSES = ("new", "acknowledged", "in_progress", "waiting_customer", "reopened")
CASE_STATUSES = (*OPEN_STATUSES, "resolved", "closed")
_PUBLIC = {"console.login", "console.static", "console.language"}


def _store() -> Store:
    return current_app.extensions["triage_store"]


def _accounts() -> Accounts:
    return current_app.extensions["console_accounts"]


def _cases() -> Any:
    return current_app.extensions["triage_cases"]


def _id_key() -> str:
    return current_app.config["TRIAGE_SETTINGS"].id_hash_key.get_secret_value()


def _policy() -> Any:
    return current_app.extensions["triage_decider"].policy.policy


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(_policy().thresholds.get("calendar", {}).get("timezone", "UTC"))
    except Exception:  # noqa: BLE001 - a stub decider in tests, or no calendar: UTC
        return ZoneInfo("UTC")


# ---------------------------------------------------------------- sign-in
@console.before_request
def _signed_in() -> Response | None:
    _store().ensure_schema_once()
    _accounts().ensure_schema_once()
    name = session.get("user")
    user = _accounts().get(name) if name else None
    g.user = user if user is not None and user.active else None
    if g.user is None and request.endpoint not in _PUBLIC:
        session.pop("user", None)
        # back to the page asked for after signing in; the bare /console lands on the role's home instead
        wanted = request.full_path.rstrip("?") if request.method == "GET" and request.path != "/console" else None
        return redirect(url_for("console.login", next=wanted))
    return None


@console.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> Any:
    return render_template("console/error.html", message=f"{e.code} {e.name}"), e.code or 500


@console.errorhandler(ApiError)
def _api_error(e: ApiError) -> Any:
    return render_template("console/error.html", message=e.detail), e.status_code


def manager_only(view: Any) -> Any:
    @functools.wraps(view)
    def wrapped(*args: Any, **kw: Any) -> Any:
        if not g.user.is_manager:
            return render_template("console/error.html", message=translate("This page is for managers.")), 403
        return view(*args, **kw)

    return wrapped


def _safe_next(target: str | None, default: str) -> str:
    """Only a path on this site (no scheme, no host): a sign-in link cannot send anyone elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/console") or target.startswith("//"):
        return default
    return target


@console.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = _accounts().check(form.name.data.strip(), form.password.data)
        if user is not None:
            lang = session.get("lang")
            session.clear()  # a new session on sign-in (no fixation)
            if lang:
                session["lang"] = lang
            session["user"] = user.name
            session.permanent = True
            home = url_for("console.dashboard" if user.is_manager else "console.queue")
            return redirect(_safe_next(request.args.get("next"), home))
        error = translate("Wrong name or password.")
    elif request.method == "POST":
        error = translate("The form expired; please try again.") if form.csrf_token.errors else \
            translate("Wrong name or password.")
    return render_template("console/login.html", form=form, error=error), (401 if error else 200)


@console.post("/logout")
def logout() -> Any:
    if PlainForm().validate_on_submit():
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
    return redirect(url_for("console.login"))


@console.get("/lang/<code>")
def language(code: str) -> Any:
    if code in UI_LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next"), url_for("console.queue")))


# ---------------------------------------------------------------- queue
def _flag(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


def _queue_filters() -> tuple[queries.QueueFilters, dict[str, str]]:
    a = request.args
    chosen = {k: a.get(k, "") for k in ("department", "level", "status", "needs_review", "language", "overdue",
                                        "assignee")}
    level = chosen["level"]
    assignee = chosen["assignee"]
    if assignee == "me":
        assignee = mask_identifier(g.user.name, _id_key())
    elif assignee == "none":
        assignee = ""
    elif assignee:
        assignee = mask_identifier(assignee, _id_key())
    f = queries.QueueFilters(
        department=chosen["department"] if chosen["department"] in DEPARTMENTS else None,
        escalation_level=int(level) if level in ("0", "1", "2", "3") else None,
        status=chosen["status"] if chosen["status"] in CASE_STATUSES else None,
        needs_review=_flag(chosen["needs_review"]),
        language=chosen["language"] if chosen["language"] in LANGUAGES else None,
        overdue=_flag(chosen["overdue"]),
        assignee=assignee if chosen["assignee"] else None,
    )
    return f, chosen


@console.get("")
def queue() -> Any:
    f, chosen = _queue_filters()
    after = queries.QueueCursor.decode(request.args.get("after", "")) if request.args.get("after") else None
    now = datetime.now(timezone.utc)
    rows, following = queries.queue(_store(), f, after, PAGE, now)
    total = queries.count_open(_store(), f, now)
    args = {k: v for k, v in chosen.items() if v}
    next_url = url_for("console.queue", **args, after=following.encode()) if following else None
    first_url = url_for("console.queue", **args) if after else None
    agents = [u.name for u in _accounts().all() if u.active]
    return render_template("console/queue.html", rows=rows, chosen=chosen, total=total,
                           cap=queries.COUNT_CAP, next_url=next_url, first_url=first_url, agents=agents,
                           departments=DEPARTMENTS, statuses=CASE_STATUSES, languages=LANGUAGES)


# ---------------------------------------------------------------- case
def highlight(text: str, evidence: list[dict[str, Any]]) -> Markup:
    """The text with each evidence span marked at its offsets; overlapping spans split into pieces, each marked
    with every signal that covers it."""
    spans = [(int(e["start"]), int(e["end"]), e["signal"]) for e in evidence
             if 0 <= int(e.get("start", -1)) < int(e.get("end", -1)) <= len(text)]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        piece = escape(text[a:b])
        covering = sorted({sig for s, e, sig in spans if s <= a and b <= e})
        if covering:
            names = " ".join(f"sig-{sig}" for sig in covering)
            title = ", ".join(label(sig) for sig in covering)
            out.append(Markup(f'<mark class="ev {names}" data-signal="{escape(" ".join(covering))}" '
                              f'title="{escape(title)}">{piece}<sup>{escape(title)}</sup></mark>'))
        else:
            out.append(piece)
    return Markup("").join(out)


_STEP_DEADLINE = {"acknowledge": "acknowledge_by", "report_management": "report_by", "execute": "resolve_by",
                  "reply_in_writing": "resolve_by", "follow_up": "follow_up_by"}


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def plan_with_due(decision: dict[str, Any], received_at: datetime) -> list[dict[str, Any]]:
    deadlines = decision.get("deadlines") or {}
    out = []
    for step in decision.get("plan") or []:
        due = _when(deadlines.get(_STEP_DEADLINE.get(step["action"], "")))
        if due is None and step.get("due_within_hours") is not None:
            due = received_at + timedelta(hours=float(step["due_within_hours"]))
        out.append({**step, "due": due})
    return out


def _rules_in_words(decision: dict[str, Any]) -> list[dict[str, str]]:
    try:
        rules = _policy().rules
    except AttributeError:
        rules = {}
    return [{"name": n, "why": rules[n].why if n in rules else "", "stage": rules[n].stage if n in rules else ""}
            for n in decision.get("rules_fired") or []]


def _assignable(decision: dict[str, Any]) -> list[str]:
    """Active accounts that may handle the case: never one of its exclude_handlers (by name or hashed id)."""
    excluded = set(decision.get("exclude_handlers") or [])
    key = _id_key()
    return [u.name for u in _accounts().all()
            if u.active and u.name not in excluded and mask_identifier(u.name, key) not in excluded]


def _last_correction(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    for e in reversed(history):
        if e["action"] == "correction" and isinstance(e.get("before"), dict) and isinstance(e.get("after"), dict):
            return {"at": e["at"], "actor": e["actor"], "correction": e["after"].get("correction") or {},
                    "changes": queries.decision_changes(e["before"].get("decision") or {},
                                                        e["after"].get("decision") or {})}
    return None


ACCEPT_NOTE = "accepted"
FIELD_NAMES = {"category.label": "Category", "severity.label": "Severity", "department": "Department",
               "escalation.level": "Level", "escalation.name": "Escalation", "refund.eligibility": "Refund",
               "also_notify": "Also notify", "needs_review": "Needs review",
               **{f"deadlines.{n}": n for n in ("acknowledge_by", "report_by", "resolve_by", "follow_up_by")}}


def _accepted(feedback: list[dict[str, Any]]) -> bool:
    return any(f.get("note") == ACCEPT_NOTE for f in feedback)


@console.get("/cases/<complaint_id>")
def case(complaint_id: str) -> Any:
    row = _store().get(complaint_id)
    if row is None:
        return render_template("console/error.html", message=translate("No case with this id.")), 404
    decision = row["decision"]
    history = row.get("history") or []
    links = row.get("links") or {}
    assignable = _assignable(decision)
    status = row.get("status", "new")
    forms = {
        "accept": PlainForm(),
        "correct": CorrectForm(),
        "assign": AssignForm(),
        "status": StatusForm(),
        "note": NoteForm(),
        "reply": ReplyForm(),
        "resolution": ResolutionForm(),
        "satisfaction": SatisfactionForm(),
    }
    forms["assign"].assignee.allowed = ("", *assignable)
    current = next((n for n in assignable if mask_identifier(n, _id_key()) == row.get("assignee")), "")
    forms["status"].status.allowed = STATUS_TRANSITIONS.get(status, ())
    linked = {kind: queries.case_summaries(_store(), ids) for kind, ids in links.items() if ids}
    received = row["received_at"]
    return render_template(
        "console/case.html", row=row, d=decision, status=status, history=history, forms=forms,
        text=highlight(row["text"], (decision.get("signals") or {}).get("evidence") or []),
        rules=_rules_in_words(decision), plan=plan_with_due(decision, received),
        deadlines=_deadline_rows(row, decision), linked=linked,
        last_correction=_last_correction(history), accepted=_accepted(row.get("feedback") or []),
        notes=[e for e in history if e["action"] == "note"], field_names=FIELD_NAMES, current_assignee=current,
        vocab={"category": CATEGORIES, "severity": SEVERITIES, "department": DEPARTMENTS, "remedy": REMEDIES},
    )


def _deadline_rows(row: dict[str, Any], decision: dict[str, Any]) -> list[dict[str, Any]]:
    deadlines = decision.get("deadlines") or {}
    done = {"acknowledge_by": row.get("acknowledged_at"), "report_by": row.get("reported_at"),
            "resolve_by": row.get("resolved_at")}
    now = datetime.now(timezone.utc)
    out = []
    for name in ("acknowledge_by", "report_by", "resolve_by", "follow_up_by", "regulatory_by"):
        # the store's columns move with pauses (waiting_customer); the decision's are as decided
        due = row.get(name) if row.get(name) is not None else _when(deadlines.get(name))
        if due is None:
            continue
        out.append({"name": name, "due": due, "done": done.get(name),
                    "overdue": done.get(name) is None and due < now and name in done,
                    "left": due - now})
    return out


def _back(complaint_id: str) -> Response:
    return redirect(url_for("console.case", complaint_id=complaint_id))


def _change(complaint_id: str, form: Any, act: Any) -> Response:
    """Validate the form (CSRF included), run the change, flash its outcome or the refusal's reason."""
    if not form.validate_on_submit():
        errors = [f"{translate(f.label.text)}: {'; '.join(f.errors)}" for f in form if f.errors]
        flash(translate("The form expired; please try again.") if form.csrf_token.errors else "; ".join(errors),
              "error")
        return _back(complaint_id)
    try:
        act(form)
    except ApiError as e:
        flash(e.detail, "error")
    else:
        flash(translate("Done."), "ok")
    return _back(complaint_id)


@console.post("/cases/<complaint_id>/accept")
def accept(complaint_id: str) -> Response:
    def act(_form: Any) -> None:
        row = _store().get_row(complaint_id)
        if row is None:
            raise ApiError(404, "no such case")
        _store().add_feedback(complaint_id, row["category"], row["severity"], row["department"], ACCEPT_NOTE)
        _cases().note(complaint_id, f"accepted the decision: {row['category']}, {row['severity']}, "
                                    f"{row['department']}", g.user.name)

    return _change(complaint_id, PlainForm(), act)


@console.post("/cases/<complaint_id>/correct")
def correct(complaint_id: str) -> Response:
    def act(form: CorrectForm) -> None:
        corrections = form.corrections()
        if not corrections:
            raise ApiError(422, translate("Correct") + ": " + translate("keep"))
        _store().add_feedback(complaint_id, corrections.get("category"), corrections.get("severity"),
                              corrections.get("department"), form.note.data or None)
        _cases().correct(complaint_id, corrections, g.user.name)

    return _change(complaint_id, CorrectForm(), act)


@console.post("/cases/<complaint_id>/assign")
def assign(complaint_id: str) -> Response:
    form = AssignForm()
    row = _store().get_row(complaint_id)
    if row is None:
        abort(404)
    form.assignee.allowed = ("", *_assignable(row["decision"]))
    return _change(complaint_id, form, lambda f: _cases().assign(complaint_id, f.assignee.data or None,
                                                                 g.user.name))


@console.post("/cases/<complaint_id>/status")
def status(complaint_id: str) -> Response:
    form = StatusForm()
    row = _store().get_row(complaint_id)
    if row is None:
        abort(404)
    form.status.allowed = STATUS_TRANSITIONS.get(row["status"], ())
    return _change(complaint_id, form, lambda f: _cases().set_status(complaint_id, f.status.data, g.user.name,
                                                                     f.note.data or None))


@console.post("/cases/<complaint_id>/note")
def note(complaint_id: str) -> Response:
    return _change(complaint_id, NoteForm(),
                   lambda f: _cases().note(complaint_id, f.text.data, g.user.name))


@console.post("/cases/<complaint_id>/reply")
def reply(complaint_id: str) -> Response:
    return _change(complaint_id, ReplyForm(),
                   lambda f: _cases().reply(complaint_id, f.text.data, g.user.name))


@console.post("/cases/<complaint_id>/resolution")
def resolution(complaint_id: str) -> Response:
    def act(f: ResolutionForm) -> None:
        amount = float(f.refund_amount.data) if f.refund_amount.data is not None else None
        _cases().resolution(complaint_id, {"remedy": f.remedy.data, "refund_amount": amount,
                                           "note": f.note.data or None}, g.user.name)

    return _change(complaint_id, ResolutionForm(), act)


@console.post("/cases/<complaint_id>/satisfaction")
def satisfaction(complaint_id: str) -> Response:
    return _change(complaint_id, SatisfactionForm(),
                   lambda f: _cases().satisfaction(complaint_id, f.score.data, g.user.name))


# ---------------------------------------------------------------- dashboard
@console.get("/dashboard")
@manager_only
def dashboard() -> Any:
    period = request.args.get("period", "week")
    period = period if period in ("week", "month") else "week"
    now = datetime.now(timezone.utc)
    since = queries.window_start(period, now)  # type: ignore[arg-type]
    from complaint_triage.service.store import Filters

    buckets = _store().stats(period, Filters(received_from=since), now=now)  # type: ignore[arg-type]
    starts = [b["start"] for b in buckets]
    lang = current_language()
    by_category = charts.stacked_bars(
        starts, {c: [b["category"].get(c, 0) for b in buckets] for c in CATEGORIES},
        labels={c: label(c, lang) for c in CATEGORIES}, title=translate("Volume by category"))
    by_severity = charts.stacked_bars(
        starts, {s: [b["severity"].get(s, 0) for b in buckets] for s in SEVERITIES},
        labels={s: label(s, lang) for s in SEVERITIES}, colours=charts.SEVERITY_COLOURS,
        title=translate("Volume by severity"))
    sla: dict[str, dict[str, int]] = {}
    for b in buckets:
        for dept, s in (b.get("sla") or {}).items():
            acc = sla.setdefault(dept, {"acknowledge_due": 0, "acknowledged_on_time": 0, "resolve_due": 0,
                                        "resolved_on_time": 0})
            for k in acc:
                acc[k] += s.get(k, 0)

    def share(done: int, due: int) -> float | None:
        return done / due if due else None

    sla_rows = []
    for dept in sorted(sla):
        s = sla[dept]
        sla_rows.append((f"{label(dept, lang)} · {translate('acknowledged on time')}",
                         share(s["acknowledged_on_time"], s["acknowledge_due"]),
                         f"({s['acknowledged_on_time']}/{s['acknowledge_due']})"))
        sla_rows.append((f"{label(dept, lang)} · {translate('resolved on time')}",
                         share(s["resolved_on_time"], s["resolve_due"]),
                         f"({s['resolved_on_time']}/{s['resolve_due']})"))
    review = queries.needs_review_by_period(_store(), period, since)  # type: ignore[arg-type]
    review_total = sum(n for _, n, _ in review)
    review_flagged = sum(r for _, _, r in review)
    review_chart = charts.stacked_bars(
        [s for s, _, _ in review],
        {"needs_review": [r for _, _, r in review], "ok": [n - r for _, n, r in review]},
        labels={"needs_review": translate("Needs review"), "ok": translate("no review needed")},
        colours={"needs_review": "#D55E00", "ok": "#9ecae1"}, title=translate("Needs-review share"))
    agree = queries.agreement(_store(), since)
    agree_rows = [(label(cat, lang), share(v["accepted"], v["reviewed"]),
                   f"({v['accepted']}/{v['reviewed']})") for cat, v in sorted(agree.items())]
    crises, crisis_total = queries.open_crises(_store())
    return render_template(
        "console/dashboard.html", period=period, since=since, by_category=by_category, by_severity=by_severity,
        sla_chart=charts.share_bars(sla_rows, translate("SLA compliance by department")) if sla_rows else None,
        review_chart=review_chart if review else None,
        review_share=(review_flagged / review_total) if review_total else None, review_total=review_total,
        review_flagged=review_flagged,
        agree_chart=charts.share_bars(agree_rows, translate("Agreement between agents and the model"))
        if agree_rows else None,
        crises=crises, crisis_total=crisis_total, total=sum(b["total"] for b in buckets))


# ---------------------------------------------------------------- policy
def condition_in_words(node: Any) -> str:
    """durable_rules' JSON condition as a line an agent can read: severity = high, prior_complaints ≥ 1, …"""
    ops = {"$gt": ">", "$gte": "≥", "$lt": "<", "$lte": "≤", "$neq": "≠"}
    if isinstance(node, list):
        return " and ".join(condition_in_words(n) for n in node)
    if not isinstance(node, dict):
        return str(node)
    parts = []
    for key, value in node.items():
        if key in ("all",):
            parts.append(condition_in_words(value))
        elif key == "m":
            parts.append(condition_in_words(value))
        elif key == "$and":
            parts.append(" and ".join(condition_in_words(v) for v in value))
        elif key == "$or":
            parts.append("(" + " or ".join(condition_in_words(v) for v in value) + ")")
        elif key in ops:
            parts.append(" and ".join(f"{k} {ops[key]} {v}" for k, v in value.items()))
        elif key == "$ex":
            parts.append(" and ".join(f"{k} is given" for k in value))
        elif key == "$nex":
            parts.append(" and ".join(f"{k} is not given" for k in value))
        else:
            parts.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    return " and ".join(parts)


def _flatten(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        out: list[tuple[str, Any]] = []
        for k, v in node.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, node)]


@console.get("/policy")
def policy() -> Any:
    p = _policy()
    stages: dict[str, list[dict[str, Any]]] = {}
    for rule in sorted(p.rules.values(), key=lambda r: (r.file, r.pri, r.name)):
        stages.setdefault(rule.stage, []).append({
            "name": rule.name, "why": rule.why, "pri": rule.pri, "file": rule.file,
            "when": condition_in_words(rule.condition),
            "then": ", ".join(f"{a.verb} {a.arg}" if a.arg else a.verb for a in rule.actions)})
    return render_template("console/policy.html", version=p.version, stages=stages,
                           thresholds=_flatten(p.thresholds), files=p.files)


# ---------------------------------------------------------------- template helpers
def fmt_time(value: Any) -> str:
    when = _when(value)
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(_zone()).strftime("%Y-%m-%d %H:%M")


def fmt_left(delta: timedelta | None) -> Markup:
    if delta is None:
        return Markup('<span class="muted">—</span>')
    lang = current_language()
    seconds = int(delta.total_seconds())
    late = seconds < 0
    seconds = abs(seconds)
    d, h, m = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if lang == "zh":
        text = (f"{d}天{h}小时" if d else f"{h}小时{m}分" if h else f"{m}分钟")
    else:
        text = (f"{d} d {h} h" if d else f"{h} h {m} min" if h else f"{m} min")
    if late:
        return Markup(f'<span class="overdue">{escape(translate("overdue by"))} {escape(text)}</span>')
    return Markup(f'<span class="left">{escape(text)}</span>')


def tz_name() -> str:
    return str(_zone())
