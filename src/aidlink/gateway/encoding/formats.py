"""Value formats of linkage-schema v3 features: validation and canonical form, as clkhash 0.18.

``canonical(value)`` returns the string that gets tokenized, or raises ``ValueError`` with a
reason a person can act on. Integers lose signs and padding (``'+07'`` -> ``'7'``); dates become
``YYYYMMDD`` so separators carry no weight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

DATE_OUTPUT_FORMAT = "%Y%m%d"
_EIGHT_DIGITS = re.compile("[0-9]{8}")


class ValueFormat(Protocol):
    def canonical(self, value: str) -> str: ...


@dataclass(frozen=True)
class StringFormat:
    """Free text, checked by a regular expression or by length and case."""

    encoding: str = "utf-8"
    pattern: str | None = None
    case: Literal["upper", "lower", "mixed"] = "mixed"
    min_length: int | None = None
    max_length: int | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern))

    def canonical(self, value: str) -> str:
        if self._regex is not None:
            if self._regex.fullmatch(value) is None:
                raise ValueError(f"does not match the pattern {self.pattern!r}")
            return value
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(f"shorter than the minimum length {self.min_length} (has {len(value)})")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"longer than the maximum length {self.max_length} (has {len(value)})")
        if self.case == "upper" and value.upper() != value:
            raise ValueError("expected upper case")
        if self.case == "lower" and value.lower() != value:
            raise ValueError("expected lower case")
        return value


@dataclass(frozen=True)
class IntegerFormat:
    """A base-10 integer, optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None

    def canonical(self, value: str) -> str:
        try:
            number = int(value, base=10)
        except ValueError:
            raise ValueError("not a base-10 integer") from None
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"less than the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"greater than the maximum {self.maximum}")
        return str(number)


@dataclass(frozen=True)
class DateFormat:
    """A date in a ``strptime`` format; hashed as ``YYYYMMDD``."""

    format: str

    def canonical(self, value: str) -> str:
        if self.format == DATE_OUTPUT_FORMAT and _EIGHT_DIGITS.fullmatch(value) and value >= "1000":
            # Fast path for the usual case, same result as below: for eight ASCII digits of a
            # valid date (year >= 1000, so strftime's %Y gives four digits back) strptime's
            # first alternatives take YYYY, MM and DD whole, and the value is its own canonical form.
            try:
                date(int(value[:4]), int(value[4:6]), int(value[6:]))
            except ValueError:
                pass  # not a valid date: strptime below gives the reason
            else:
                return value
        try:
            parsed = datetime.strptime(value, self.format)
        except ValueError as exc:
            raise ValueError(f"not a date in the format {self.format!r} ({exc})") from None
        return parsed.strftime(DATE_OUTPUT_FORMAT)


@dataclass(frozen=True)
class EnumFormat:
    """One of a fixed set of strings."""

    values: frozenset[str]

    def canonical(self, value: str) -> str:
        if value not in self.values:
            raise ValueError(f"not one of {sorted(self.values)}")
        return value
