"""Risk rules as data (Art. 14-15): a versioned TOML rule set, validated on load.

A rule holds for a person cluster when the cluster's records (catalog entry and
attributes, per department) meet every condition; see matcher/data/risk-rules.toml
for the format. Nothing here knows who a person is.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aidlink.matcher.catalog import Catalog

TYPES = ("policy-not-delivered", "illness", "schooling", "disability", "unemployment", "disaster")
TYPE_NAMES = {
    "policy-not-delivered": "政策未落实",
    "illness": "因病",
    "schooling": "因学",
    "disability": "因残",
    "unemployment": "因失业",
    "disaster": "因灾",
}
LEVELS = ("red", "orange", "yellow")
LEVEL_NAMES = {"red": "红色", "orange": "橙色", "yellow": "黄色"}
RULE_KEYS = {"id", "type", "level", "reason", "action", "article", "subject", "in", "in_any", "household_in", "not_in"}
CONDITION_KEYS = ("in", "in_any", "household_in", "not_in")


class RuleError(ValueError):
    """A rule set that cannot be used; the message names the rule and the key at fault."""


@dataclass(frozen=True)
class LinkedRecord:
    """One record of a cluster as the rules see it: its catalog entry and attributes."""

    entry: str
    attributes: Mapping[str, str]


Records = Mapping[str, Sequence[Mapping[str, str]]]  # catalog entry -> attributes of each record


def by_entry(records: Iterable[LinkedRecord]) -> dict[str, list[Mapping[str, str]]]:
    out: dict[str, list[Mapping[str, str]]] = {}
    for r in records:
        out.setdefault(r.entry, []).append(r.attributes)
    return out


@dataclass(frozen=True)
class EntryCondition:
    entry: str
    where: tuple[tuple[str, tuple[str, ...]], ...]  # (attribute, allowed values)

    def met_by(self, records: Records) -> bool:
        """Whether any record of the entry passes the filter."""
        return any(
            all(attrs.get(name, "") in allowed for name, allowed in self.where) for attrs in records.get(self.entry, ())
        )


@dataclass(frozen=True)
class Rule:
    id: str
    type: str
    level: str
    reason: str
    article: str
    subject: str
    all_in: tuple[EntryCondition, ...]
    any_in: tuple[tuple[EntryCondition, ...], ...]
    household_in: tuple[EntryCondition, ...]
    not_in: tuple[EntryCondition, ...]
    action: str = ""  # the suggested action for whoever acts on the warning

    def holds(self, person: Records, household: Records) -> bool:
        """Whether the rule holds for a person (its records by entry) in a household (all members')."""
        return (
            all(c.met_by(person) for c in self.all_in)
            and (not self.any_in or any(all(c.met_by(person) for c in alt) for alt in self.any_in))
            and all(c.met_by(household) for c in self.household_in)
            and not any(c.met_by(person) for c in self.not_in)
        )

    def positive_entries(self) -> list[str]:
        """Entries a person must hold a record in (the subject is one of them)."""
        seen = [c.entry for c in self.all_in] + [c.entry for alt in self.any_in for c in alt]
        return list(dict.fromkeys(seen))

    def entries(self) -> set[str]:
        return set(self.positive_entries()) | {c.entry for c in self.household_in + self.not_in}


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"rule {rule_id!r} is not in rule set {self.version}")

    def entries(self) -> set[str]:
        return set().union(*(r.entries() for r in self.rules)) if self.rules else set()

    @classmethod
    def load(cls, path: Path | None = None, catalog: Catalog | None = None) -> RuleSet:
        """The rule set at `path` (default: the embedded risk-rules.toml), checked against `catalog`."""
        if path is None:
            text = resources.files("aidlink.matcher.data").joinpath("risk-rules.toml").read_text("utf-8")
            return cls.parse(text, "embedded risk-rules.toml", catalog)
        return cls.parse(Path(path).read_text("utf-8"), str(path), catalog)

    @classmethod
    def parse(cls, text: str, source: str = "risk rules", catalog: Catalog | None = None) -> RuleSet:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{source}: not valid TOML: {exc}") from None
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise RuleError(f"{source}: missing rule set 'version' (a string such as \"2023.1\")")
        unknown = set(data) - {"version", "rule"}
        if unknown:
            raise RuleError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list) or not raw_rules:
            raise RuleError(f"{source}: no [[rule]] tables")
        rules, seen = [], set()
        for i, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, f"{source}: rule #{i + 1}", catalog)
            if rule.id in seen:
                raise RuleError(f"{source}: rule #{i + 1}: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            rules.append(rule)
        return cls(version, tuple(rules))


def _text(raw: dict, key: str, where: str, choices: Sequence[str] | None = None) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}: {key!r} is required and must be a non-empty string")
    if choices is not None and value not in choices:
        raise RuleError(f"{where}: {key!r} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _conditions(value, where: str, key: str, catalog: Catalog | None) -> tuple[EntryCondition, ...]:
    if not isinstance(value, dict) or not value:
        raise RuleError(f"{where}: {key!r} must be a non-empty table of catalog entry = filter")
    out = []
    for entry, where_table in value.items():
        at = f"{where}: {key}.{entry!r}"
        if not isinstance(where_table, dict):
            raise RuleError(f'{at}: the filter must be a table such as {{ category = ["dibao"] }}')
        known = catalog.entries.get(entry) if catalog is not None else None
        if catalog is not None and known is None:
            raise RuleError(f"{at}: no catalog entry {entry!r} in catalog {catalog.version}")
        pairs = []
        for name, allowed in where_table.items():
            if isinstance(allowed, str):
                allowed = [allowed]
            if not isinstance(allowed, list) or not allowed or not all(isinstance(v, str) for v in allowed):
                raise RuleError(f"{at}: {name!r} must be a non-empty list of strings")
            if known is not None and name not in known.attributes:
                raise RuleError(
                    f"{at}: attribute {name!r} is not an information item of catalog entry "
                    f"{entry} (it has: {', '.join(known.attributes)})"
                )
            pairs.append((name, tuple(allowed)))
        out.append(EntryCondition(entry, tuple(pairs)))
    return tuple(out)


def _parse_rule(raw, where: str, catalog: Catalog | None) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: must be a table")
    rule_id = _text(raw, "id", where)
    where = f"{where} ({rule_id})"
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(RULE_KEYS))})")
    all_in = _conditions(raw["in"], where, "in", catalog) if "in" in raw else ()
    any_in: list[tuple[EntryCondition, ...]] = []
    if "in_any" in raw:
        alternatives = raw["in_any"]
        if not isinstance(alternatives, list) or not alternatives:
            raise RuleError(f"{where}: 'in_any' must be a non-empty list of tables")
        for j, alt in enumerate(alternatives):
            any_in.append(_conditions(alt, where, f"in_any[{j}]", catalog))
    if not all_in and not any_in:
        raise RuleError(f"{where}: needs 'in' or 'in_any' (the records a person must hold)")
    household = _conditions(raw["household_in"], where, "household_in", catalog) if "household_in" in raw else ()
    not_in = _conditions(raw["not_in"], where, "not_in", catalog) if "not_in" in raw else ()
    rule = Rule(
        rule_id,
        _text(raw, "type", where, TYPES),
        _text(raw, "level", where, LEVELS),
        _text(raw, "reason", where),
        str(raw.get("article", "")),
        "",
        all_in,
        tuple(any_in),
        household,
        not_in,
        _text(raw, "action", where) if "action" in raw else "",
    )
    subject = raw.get("subject", rule.positive_entries()[0])
    if subject not in rule.positive_entries():
        raise RuleError(
            f"{where}: 'subject' {subject!r} must be one of the entries in 'in' or 'in_any' "
            f"({', '.join(rule.positive_entries())})"
        )
    return Rule(**{**rule.__dict__, "subject": subject})
