"""Tables of policy cases: a complaint and the decision fields it must get."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ValidationError

from complaint_triage.contract import Complaint
from complaint_triage.rules.policy import DEFAULT_POLICY_DIR

EXAMPLE_CASES = DEFAULT_POLICY_DIR / "examples" / "cases.jsonl"


class Case(BaseModel):
    name: str
    input: Complaint
    expect: dict


class CaseError(ValueError):
    pass


def read_cases(path: Path) -> list[Case]:
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                cases.append(Case.model_validate_json(line))
            except ValidationError as e:
                raise CaseError(f"{path}:{n}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from e
    return cases


def field_value(decision: dict, dotted: str):
    node = decision
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


def run_cases(decider, cases: list[Case]) -> list[str]:
    """One message per mismatching field, each starting with the case name."""
    decisions = decider.decide_many([c.input for c in cases])
    failures = []
    for case, decision in zip(cases, decisions):
        got_all = decision.model_dump(mode="json")
        for key, want in case.expect.items():
            got = field_value(got_all, key)
            if got is KeyError:
                failures.append(f"{case.name}: no field {key!r} in the decision")
            elif isinstance(want, list) and isinstance(got, list) and key != "plan":
                if sorted(map(str, want)) != sorted(map(str, got)):
                    failures.append(f"{case.name}: {key} expected {want}, got {got}")
            elif got != want:
                failures.append(f"{case.name}: {key} expected {want!r}, got {got!r}")
    return failures
