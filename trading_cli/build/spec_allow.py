"""``specs-allow.yaml``: the breaking API changes a team accepts on purpose.

Each entry names the change as ``trading specs diff`` prints it (its path and
rule) and says why it is acceptable::

    allow:
      - path: GET /api/v1/broker/orders
        rule: removed-operation
        reason: replaced by /orders/search; the web client moved in 2.3
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_cli.build.schema_diff import BREAKING_RULES, SpecChange
from trading_cli.errors import UsageError

ALLOW_FILE = "specs-allow.yaml"


@dataclass(frozen=True)
class AllowEntry:
    """One accepted breaking change."""

    path: str
    rule: str
    reason: str


@dataclass(frozen=True)
class AllowList:
    """The entries of the allow file."""

    entries: tuple[AllowEntry, ...] = ()

    def allows(self, change: SpecChange) -> bool:
        """Whether an entry accepts ``change`` (same path, same rule)."""
        return any(
            entry.path == change.path and entry.rule == change.rule
            for entry in self.entries
        )

    def unused(self, changes: Sequence[SpecChange]) -> list[AllowEntry]:
        """Entries that accept none of ``changes``."""
        return [
            entry
            for entry in self.entries
            if not any(entry.path == c.path and entry.rule == c.rule for c in changes)
        ]


def read_allow_file(path: Path) -> AllowList:
    """Read and validate the allow file; a missing file allows nothing.

    Raises:
        UsageError: the file is not valid YAML or an entry is malformed; the
            message names the entry and the field.
    """
    if not path.is_file():
        return AllowList()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path.name}{where} is not valid YAML; fix it") from None
    return AllowList(tuple(_entries(path.name, data)))


def _entries(name: str, data: Any) -> list[AllowEntry]:
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) - {"allow"}:
        raise UsageError(f"{name} must be a mapping with one key, 'allow' (a list)")
    items = data.get("allow") or []
    if not isinstance(items, list):
        raise UsageError(f"{name}: 'allow' must be a list of entries")
    return [_entry(name, index, item) for index, item in enumerate(items, start=1)]


def _entry(name: str, index: int, item: Any) -> AllowEntry:
    where = f"{name}: entry {index}"
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with path, rule and reason")
    unknown = sorted(set(item) - {"path", "rule", "reason"})
    if unknown:
        raise UsageError(
            f"{where} has unknown key(s) {', '.join(unknown)}; "
            "keep path, rule and reason"
        )
    for key in ("path", "rule", "reason"):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{where} needs a non-empty {key!r} (text)")
    if item["rule"] not in BREAKING_RULES:
        raise UsageError(
            f"{where}: {item['rule']!r} is not a breaking-change rule; "
            f"use one of {', '.join(sorted(BREAKING_RULES))}"
        )
    return AllowEntry(item["path"].strip(), item["rule"], item["reason"].strip())
