"""durable_rules, held so that it behaves in a server.

One Host per Policy, built once: its background timer threads are switched off (we only assert and retract),
every call uses a fresh state id that is deleted afterwards (durable_rules allows 1,024 live states and keeps
retracted facts' states otherwise), and one process-wide lock serialises calls into the C engine, which is
not safe to enter from several threads. Facts are asserted and retracted rather than posted so that every
matching rule fires, not only the first.

Which rules fire is a pure function of the facts the stage's conditions test, and of those only through the
tests themselves (is the level ≥ 2, is the amount ≤ 200, which category). ``FiringKey`` reads those tests out
of the rule files, so facts that no condition can tell apart share one key and one answer: the engine runs once
per distinct case, not once per complaint (a backlog has millions of complaints and a few thousand cases).
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Callable
from typing import Any

from durable import engine

from complaint_triage.rules.policy import STAGES, Policy, Rule

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


_ORDERING = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
_CACHE_LIMIT = 100_000


class FiringKey:
    """The part of a fact set that a stage's conditions can see.

    A fact tested only for presence (``$ex``/``$nex``) contributes whether it is present; one compared by order
    (``$lt``...) too, and the outcome of each comparison; any other fact (equality, ``$neq``, a non-numeric value)
    contributes its exact value; facts no condition names contribute nothing. A condition of a shape not
    understood here makes the stage uncacheable (``usable`` is False) rather than risk a wrong answer.
    """

    def __init__(self, rules: list[Rule]):
        self.usable = True
        self._ordered: dict[str, list[tuple[Callable[[Any, Any], bool], float]]] = {}
        self._exact: set[str] = set()
        for rule in rules:
            for part in rule.condition.get("all", []):
                self._walk(part.get("m") if isinstance(part, dict) else None)
        self._names = sorted(self._exact | set(self._ordered))

    def _walk(self, node: Any) -> None:
        if not isinstance(node, dict):
            self.usable = False
            return
        for key, value in node.items():
            if key in ("$and", "$or") and isinstance(value, list):
                for sub in value:
                    self._walk(sub)
            elif key in _ORDERING and isinstance(value, dict):
                for fact, bound in value.items():
                    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                        self.usable = False
                    self._ordered.setdefault(fact, []).append((_ORDERING[key], bound))
            elif key in ("$ex", "$nex") and isinstance(value, dict):
                for fact in value:
                    self._ordered.setdefault(fact, [])
            elif key == "$neq" and isinstance(value, dict):
                self._exact.update(value)
            elif not key.startswith("$"):
                self._exact.add(key)
            else:
                self.usable = False

    def __call__(self, fact: dict) -> tuple:
        key = []
        for name in self._names:
            value = fact.get(name)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if name in self._exact:
                key.append((name, type(value).__name__, value))
            elif value is None or not self._ordered[name]:
                key.append((name, value is None))
            elif not numeric:
                key.append((name, type(value).__name__, value))
            else:
                key.append((name, tuple(op(value, bound) for op, bound in self._ordered[name])))
        return tuple(key)


class RulesEngine:
    def __init__(self, policy: Policy, cache: bool = True):
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
        self._order = {name: i for i, name in enumerate(policy.rules)}
        keys = {stage: FiringKey([r for r in policy.rules.values() if r.stage == stage]) for stage in STAGES}
        self._keys = {stage: k for stage, k in keys.items() if cache and k.usable}
        self._cache: dict[tuple, tuple[Rule, ...]] = {}
        self.cache_hits = 0
        # Facts durable_rules itself evaluated (not answered from the cache): what tests of the engine count.
        self.engine_calls = 0

    def _recorder(self, name: str):
        def record(c):
            self._fired[c.m.rid].append(name)

        return record

    def fire(self, stage: str, facts: dict, rid: str) -> list[Rule]:
        """The rules of ``stage`` that match ``facts``, in rule-file order; none matching is a normal answer."""
        if stage in self._empty:
            return []
        fact = {k: _plain(v) for k, v in facts.items() if v is not None}
        keyer = self._keys.get(stage)
        if keyer is None:
            return list(self._fire(stage, fact, rid))
        key = (stage, keyer(fact))
        fired = self._cache.get(key)
        if fired is None:
            fired = self._fire(stage, fact, rid)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = fired
        else:
            self.cache_hits += 1
        return list(fired)

    def _fire(self, stage: str, fact: dict, rid: str) -> tuple[Rule, ...]:
        ruleset = self._ruleset_names[stage]
        fact = {**fact, "sid": rid, "id": rid, "rid": rid}
        with _ENGINE_LOCK:
            self.engine_calls += 1
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
        return tuple(self.policy.rules[n] for n in sorted(set(names), key=self._order.__getitem__))
