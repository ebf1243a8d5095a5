"""From a backlog's own column names to the complaint contract (``rules.schema.Complaint``).

Exports from ticketing systems carry many columns the contract does not know (agent names, tags, sources).
Those are ignored and named once in the summary, rather than rejecting every row; columns the user maps
explicitly must exist, or the run stops before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from complaint_triage.batch.source import printable
from complaint_triage.contract import Complaint

CONTRACT_FIELDS = frozenset(Complaint.model_fields)


class MappingError(ValueError):
    pass


@dataclass
class ColumnMap:
    """``renames`` maps a source column to a contract field; everything else keeps its name."""

    renames: dict[str, str] = field(default_factory=dict)
    ignored: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # A contract field that another column is mapped onto: a same-named column then loses.
        self._targets = set(self.renames.values())

    @classmethod
    def build(cls, text_col: str | None = None, id_col: str | None = None,
              extra: tuple[str, ...] | list[str] = ()) -> ColumnMap:
        # Column names are compared as the header shows them (bytes outside the encoding as \xNN).
        renames: dict[str, str] = {}
        if text_col:
            renames[printable(text_col)] = "text"
        if id_col:
            renames[printable(id_col)] = "id"
        for item in extra:
            src, sep, dst = item.partition("=")
            if not sep or not src or not dst:
                raise MappingError(f"--map {printable(item)!r}: expected SOURCE_COLUMN=FIELD")
            renames[printable(src)] = dst
        unknown = sorted(set(renames.values()) - CONTRACT_FIELDS)
        if unknown:
            raise MappingError(f"not complaint fields: {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(CONTRACT_FIELDS))})")
        return cls(renames)

    def check_header(self, columns: list[str]) -> None:
        """A mapped column missing from a CSV header is a typo, not a blank field: stop early."""
        missing = [c for c in self.renames if c not in columns]
        if missing:
            raise MappingError(f"mapped column(s) not in the header: {', '.join(missing)} "
                               f"(header: {', '.join(columns)})")

    def apply(self, fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            name = self.renames.get(key, key)
            if name in CONTRACT_FIELDS and (key in self.renames or key not in self._targets):
                out[name] = value
            else:
                self.ignored.add(printable(key))
        return out
