"""durable_rules, held so that it behaves in a server.

One Host per Policy, built once: its background timer threads are switched off (we only assert and retract),
every call uses a fresh state id that is deleted afterwards (durable_rules allows 1,024 live states and keeps
retracted facts' states otherwise), and one process-wide lock serialises calls into the C engine, which is
not safe to enter from several threads. Facts are asserted and retracted rather than posted so that every
matching rule fires, not only the first.
"""

from __future__ import annotations

import itertools
import threading

from durable import engine

from rules.policy import STAGES, Policy, Rule

_ENGINE_LOCK = threading.Lock()
_host_ids = itertools.count()


class _QuietHost(engine.Host):
    def __init__(self, actions: dict):
        self._actions = actions
        super().__init__()

    def get_action(self, action_name):
        return self._actions[action_name]

    def _run(self):
        """No timer threads: nothing here is scheduled, and they caused spurious engine errors."""


PLAIN_FLOAT_CAP = 1e15


def _plain(value):
    """durable_rules' JSON parser rejects floats written with an exponent (5e-324, 8e-06 gave error 204):
    four decimals and a cap keep Python's repr positional; no threshold needs finer or larger numbers."""
    if isinstance(value, float):
        return max(min(round(value, 4), PLAIN_FLOAT_CAP), -PLAIN_FLOAT_CAP)
    return value


class RulesEngine:
    def __init__(self, policy: Policy):
        self.policy = policy
        self._fired: dict[str, list[str]] = {}
        suffix = next(_host_ids)
        self._ruleset_names = {stage: f"{stage}_{suffix}" for stage in STAGES}
        definitions, actions = {}, {}
        for rule in policy.rules.values():
            rs = definitions.setdefault(self._ruleset_names[rule.stage], {})
            rs[rule.name] = {**rule.condition, "run": rule.name}
            actions[rule.name] = self._recorder(rule.name)
        self._host = _QuietHost(actions)
        self._host.set_rulesets(definitions)
        self._empty = {stage for stage in STAGES if self._ruleset_names[stage] not in definitions}

    def _recorder(self, name: str):
        def record(c):
            self._fired[c.m.rid].append(name)

        return record

    def fire(self, stage: str, facts: dict, rid: str) -> list[Rule]:
        """The rules of ``stage`` that match ``facts``, in rule-file order; none matching is a normal answer."""
        if stage in self._empty:
            return []
        ruleset = self._ruleset_names[stage]
        fact = {k: _plain(v) for k, v in facts.items() if v is not None}
        fact.update(sid=rid, id=rid, rid=rid)
        with _ENGINE_LOCK:
            self._fired[rid] = []
            try:
                try:
                    self._host.assert_fact(ruleset, fact)
                except engine.MessageNotHandledException:
                    pass
                else:
                    self._host.retract_fact(ruleset, fact)
            except engine.MessageNotHandledException:
                pass
            finally:
                try:
                    self._host.delete_state(ruleset, rid)
                except Exception:  # noqa: BLE001 - a state that was never created is fine
                    pass
                names = self._fired.pop(rid)
        order = {name: i for i, name in enumerate(self.policy.rules)}
        return [self.policy.rules[n] for n in sorted(set(names), key=order.__getitem__)]
