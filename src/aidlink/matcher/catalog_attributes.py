"""Typed information items (attributes) of a catalog entry: what values may travel.

Every attribute a catalog entry lists declares its type; free text does not travel.
The gateway node checks each value before it uploads, and the matcher checks it again
at upload (`Exchange.add_record`), so an identifier put into an attribute value is
refused on both sides. An empty value means "not recorded" and fits every type.

Types (in catalog.toml, an inline table per attribute, in the order they travel):
  { name = "category", type = "enum", values = ["dibao", "tekun"] }
  { name = "assistance", type = "boolean" }                      # "1" or "0"
  { name = "disability_grade", type = "integer", min = 1, max = 4 }
  { name = "event_date", type = "date", min = "2000-01-01", max = "2035-12-31" }
  { name = "since", type = "month", min = "2000-01", max = "2035-12" }
  { name = "household", type = "pseudonym" }   # the node's keyed household pseudonym
  { name = "division", type = "division" }     # a 6-digit county (or city) division code

An attribute may be *derived* on the node from a person field instead of read from a column:
  { name = "school_age", type = "enum", values = ["yes", "no"], derived = { from = "birth_date", rule = "school-age" } }
The rule is one of DERIVATION_RULES (the node implements each one,
:mod:`aidlink.gateway.derived_attributes`); the source field never travels, only the derived value.

A catalog version that lists a person identifier (name, ID number, phone, address,
birth date ...) as an attribute is refused, whatever its type: identifiers travel only
as keyed encodings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

ATTRIBUTE_TYPES = ("enum", "boolean", "integer", "date", "month", "pseudonym", "division")
# Named derivation rules: rule -> (the person fields it may be derived from, the types it yields).
# Declared in catalog data (`derived = { from = ..., rule = ... }`), computed on the node.
DERIVATION_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "school-age": (("birth_date",), ("enum",)),  # "yes"/"no": aged 3-22 today
    "household-pseudonym": (("household_id",), ("pseudonym",)),  # the node's keyed pseudonym
    "division": (("address",), ("division",)),  # the registered address's county, else the ID's region code
}
SCHOOL_AGE_VALUES = ("yes", "no")
BOOLEAN_VALUES = ("1", "0")
MAX_ENUM_VALUES = 64
MAX_ENUM_VALUE_LENGTH = 64
# A bounded integer stays within +-10^6: an ID number (18 digits) or a phone number
# (11 digits, or an 8-digit landline) does not fit in any declared range.
INTEGER_LIMIT = 1_000_000
PSEUDONYM = re.compile(r"[0-9a-f]{32}")
DIVISION = re.compile(r"[1-8]\d{5}")  # GB/T 2260: a 6-digit division code
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DIGIT_RUN = re.compile(r"\d{7,}")

# Person identifiers (and their pinyin-initial / Chinese column names) that never travel
# as attributes. Whole words of the attribute name (split at _ - . and spaces):
IDENTIFIER_WORDS = frozenset(
    {
        "name",
        "names",
        "xm",
        "xingming",
        "surname",
        "id",
        "idno",
        "idnumber",
        "idcard",
        "sfz",
        "sfzh",
        "sfzhm",
        "zjhm",
        "passport",
        "phone",
        "mobile",
        "tel",
        "telephone",
        "sjh",
        "sjhm",
        "lxdh",
        "dh",
        "address",
        "addr",
        "dz",
        "zz",
        "zhuzhi",
        "birth",
        "birthday",
        "dob",
        "csrq",
        "email",
        "wechat",
    }
)
# ... and fragments anywhere in the name:
IDENTIFIER_FRAGMENTS = (
    "name",
    "id_number",
    "idnumber",
    "id_card",
    "idcard",
    "phone",
    "mobile",
    "address",
    "birth",
    "sfz",
    "姓名",
    "名字",
    "身份",
    "证件",
    "电话",
    "手机",
    "地址",
    "住址",
    "出生",
    "生日",
)


class AttributeTypeError(ValueError):
    """A catalog attribute's declaration is not acceptable; the message names it."""


def identifier_reason(name: str) -> str | None:
    """Why `name` looks like a person identifier, or None."""
    lowered = name.lower()
    words = [w for w in re.split(r"[\s_.\-/]+", lowered) if w]
    hit = next((w for w in words if w in IDENTIFIER_WORDS), None) or next(
        (f for f in IDENTIFIER_FRAGMENTS if f in lowered), None
    )
    if hit is None:
        return None
    return (
        f"{name!r} names a person identifier ({hit!r}); names, ID numbers, phone numbers, "
        f"addresses and birth dates never travel as attributes, only as keyed encodings"
    )


@dataclass(frozen=True)
class AttributeType:
    name: str
    type: str
    values: tuple[str, ...] = ()  # enum: the allowed values
    min: str = ""  # integer: decimal text; date: YYYY-MM-DD; month: YYYY-MM
    max: str = ""
    derived_from: str = ""  # the person field a derived attribute is computed from on the node
    derived_rule: str = ""  # its rule (DERIVATION_RULES); "" for an attribute read from a column

    # -- values ---------------------------------------------------------------------------------
    def problem(self, value: str, *, echo: bool = True) -> str | None:
        """Why `value` does not fit this type, or None. '' (not recorded) always fits.
        `echo=False` leaves the value out of the reason (the matcher stores reasons, never values)."""
        if value == "":
            return None
        if self.type == "enum":
            ok = value in self.values
        elif self.type == "boolean":
            ok = value in BOOLEAN_VALUES
        elif self.type == "integer":
            ok = re.fullmatch(r"-?\d{1,7}", value) is not None and int(self.min) <= int(value) <= int(self.max)
        elif self.type == "date":
            ok = _date(value) is not None and self.min <= value <= self.max
        elif self.type == "month":
            ok = _MONTH.fullmatch(value) is not None and self.min <= value <= self.max
        elif self.type == "pseudonym":
            ok = PSEUDONYM.fullmatch(value) is not None
        elif self.type == "division":
            ok = DIVISION.fullmatch(value) is not None
        else:  # an untyped attribute of a version published before attribute types
            return (
                "has no declared type in the catalog, so no value may travel (publish a catalog version that types it)"
            )
        if ok:
            return None
        if not echo:
            return f"the value ({len(value)} characters, not repeated here) is not {self.allowed()}"
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"value {shown!r} is not {self.allowed()}"

    def allowed(self) -> str:
        """What the type allows, as a person reads it."""
        if self.type == "enum":
            return f"one of {', '.join(self.values)}"
        if self.type == "boolean":
            return "1 or 0 (boolean)"
        if self.type == "integer":
            return f"an integer from {self.min} to {self.max}"
        if self.type == "date":
            return f"a date (YYYY-MM-DD) from {self.min} to {self.max}"
        if self.type == "month":
            return f"a month (YYYY-MM) from {self.min} to {self.max}"
        if self.type == "pseudonym":
            return "a keyed pseudonym (32 lowercase hex characters, made by the gateway node)"
        if self.type == "division":
            return "a 6-digit division code (GB/T 2260)"
        return "typed"

    def __str__(self) -> str:
        return f"{self.name}: {self.type}" + (f" ({self.allowed()})" if self.type else " (untyped)")

    # -- declarations ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.type == "enum":
            out["values"] = list(self.values)
        elif self.type == "integer":
            out["min"], out["max"] = int(self.min), int(self.max)
        elif self.type in ("date", "month"):
            out["min"], out["max"] = self.min, self.max
        if self.derived_rule:
            out["derived"] = {"from": self.derived_from, "rule": self.derived_rule}
        return out

    @classmethod
    def from_declaration(cls, raw: object, where: str) -> AttributeType:
        """Parse one attribute declaration; raise AttributeTypeError naming the attribute."""
        if not isinstance(raw, dict):
            shown = f"{raw!r}" if isinstance(raw, str) else type(raw).__name__
            raise AttributeTypeError(
                f"{where}: attribute {shown} has no type; declare each attribute as "
                f"{{ name = ..., type = ... }} with type one of {', '.join(ATTRIBUTE_TYPES)} (free text is refused)"
            )
        name = raw.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,47}", name):
            raise AttributeTypeError(
                f"{where}: attribute name {name!r} must be 1-48 characters [a-z0-9_], starting with a letter"
            )
        reason = identifier_reason(name)
        if reason:
            raise AttributeTypeError(f"{where}: attribute {reason}")
        at = f"{where}: attribute {name!r}"
        kind = raw.get("type")
        if kind == "text" or kind == "string":
            raise AttributeTypeError(
                f"{at}: type {kind!r} is free text, which never travels; use one of {', '.join(ATTRIBUTE_TYPES)}"
            )
        if kind not in ATTRIBUTE_TYPES:
            raise AttributeTypeError(
                f"{at}: type {kind!r} is not one of {', '.join(ATTRIBUTE_TYPES)}"
                + (" (every attribute declares a type; free text is refused)" if kind is None else "")
            )
        derived_from, derived_rule = _derivation(raw.get("derived"), kind, at)
        allowed_keys = {"name", "type", "derived"} | {
            "enum": {"values"},
            "integer": {"min", "max"},
            "date": {"min", "max"},
            "month": {"min", "max"},
        }.get(kind, set())
        unknown = sorted(set(raw) - allowed_keys)
        if unknown:
            raise AttributeTypeError(f"{at}: key(s) {', '.join(unknown)} do not apply to type {kind}")
        declared = cls._typed(raw, name, kind, at)
        if derived_rule == "school-age" and set(declared.values) != set(SCHOOL_AGE_VALUES):
            raise AttributeTypeError(
                f"{at}: rule school-age yields {' or '.join(SCHOOL_AGE_VALUES)}; list exactly those"
            )
        return cls(
            declared.name,
            declared.type,
            declared.values,
            declared.min,
            declared.max,
            derived_from=derived_from,
            derived_rule=derived_rule,
        )

    @classmethod
    def _typed(cls, raw: dict[str, Any], name: str, kind: str, at: str) -> AttributeType:
        if kind == "enum":
            return cls(name, kind, values=_enum_values(raw.get("values"), at))
        if kind == "integer":
            low, high = raw.get("min"), raw.get("max")
            if not (isinstance(low, int) and isinstance(high, int)) or isinstance(low, bool) or isinstance(high, bool):
                raise AttributeTypeError(f"{at}: an integer attribute declares integer min and max (bounded)")
            if not -INTEGER_LIMIT <= low <= high <= INTEGER_LIMIT:
                raise AttributeTypeError(
                    f"{at}: bounds {low}..{high} must satisfy -{INTEGER_LIMIT} <= min <= max <= {INTEGER_LIMIT}"
                )
            return cls(name, kind, min=str(low), max=str(high))
        if kind in ("date", "month"):
            low, high = raw.get("min"), raw.get("max")
            parse = _date if kind == "date" else (lambda v: v if _MONTH.fullmatch(v) else None)
            form = "YYYY-MM-DD" if kind == "date" else "YYYY-MM"
            if not (isinstance(low, str) and isinstance(high, str)) or parse(low) is None or parse(high) is None:
                raise AttributeTypeError(f"{at}: a {kind} attribute declares min and max as {form} text")
            if low > high:
                raise AttributeTypeError(f"{at}: min {low} is after max {high}")
            return cls(name, kind, min=low, max=high)
        return cls(name, kind)


def _derivation(raw: object, kind: str, at: str) -> tuple[str, str]:
    """(from, rule) of a `derived = { from = ..., rule = ... }` declaration, or ("", "")."""
    if raw is None:
        return "", ""
    rules = ", ".join(DERIVATION_RULES)
    if not isinstance(raw, dict) or set(raw) != {"from", "rule"}:
        raise AttributeTypeError(f'{at}: derived must be {{ from = "<person field>", rule = "<{rules}>" }}')
    source, rule = raw["from"], raw["rule"]
    if rule not in DERIVATION_RULES:
        raise AttributeTypeError(f"{at}: derivation rule {rule!r} is not one of {rules}")
    sources, kinds = DERIVATION_RULES[rule]
    if source not in sources:
        raise AttributeTypeError(f"{at}: rule {rule} derives from {' or '.join(sources)}, not {source!r}")
    if kind not in kinds:
        raise AttributeTypeError(f"{at}: rule {rule} yields a {' or '.join(kinds)} value, not {kind}")
    return source, rule


def _enum_values(values: object, at: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise AttributeTypeError(f"{at}: an enum attribute lists its values (a non-empty list of text)")
    if len(values) > MAX_ENUM_VALUES:
        raise AttributeTypeError(f"{at}: lists {len(values)} values; at most {MAX_ENUM_VALUES}")
    if len(set(values)) != len(values):
        raise AttributeTypeError(f"{at}: lists a value twice")
    for v in values:
        if len(v) > MAX_ENUM_VALUE_LENGTH or _DIGIT_RUN.search(v):
            raise AttributeTypeError(
                f"{at}: value {v!r} is not a category label (at most "
                f"{MAX_ENUM_VALUE_LENGTH} characters, no runs of 7+ digits)"
            )
    return tuple(values)


def _date(value: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
