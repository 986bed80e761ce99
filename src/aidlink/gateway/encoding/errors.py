"""Errors raised while reading linkage schemas and encoding records."""

from __future__ import annotations

from typing import Any


class SchemaError(ValueError):
    """A linkage schema is malformed; names the feature and key at fault."""

    def __init__(self, message: str, *, feature: str | None = None, key: str | None = None) -> None:
        where = []
        if feature is not None:
            where.append(f"feature {feature!r}")
        if key is not None:
            where.append(f"key {key!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.feature = feature
        self.key = key
        self.reason = message


class RecordError(ValueError):
    """A record cannot be encoded (wrong shape or a bad value); `row` is set by `encode_many`."""

    def __init__(self, reason: str, *, row: int | None = None) -> None:
        self.reason = reason
        self.row = row
        super().__init__(self._message())

    def _message(self) -> str:
        return f"row {self.row}: {self.reason}" if self.row is not None else self.reason

    def at_row(self, row: int) -> RecordError:
        """Return a copy of this error located at `row`."""
        located = RecordError(self.reason, row=row)
        return located

    def __reduce__(self) -> tuple[Any, ...]:  # pickled whole across worker processes (bulk encoding)
        return (_record_error, (self.reason, self.row))


class FeatureValueError(RecordError):
    """A feature's value does not conform to the schema's format for it."""

    def __init__(self, feature: str, value: Any, reason: str, *, row: int | None = None) -> None:
        self.feature = feature
        self.value = value
        super().__init__(reason, row=row)

    def _message(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}feature {self.feature!r}, value {self.value!r}: {self.reason}"

    def at_row(self, row: int) -> FeatureValueError:
        return FeatureValueError(self.feature, self.value, self.reason, row=row)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_feature_value_error, (self.feature, self.value, self.reason, self.row))


def _record_error(reason: str, row: int | None) -> RecordError:
    return RecordError(reason, row=row)


def _feature_value_error(feature: str, value: Any, reason: str, row: int | None) -> FeatureValueError:
    return FeatureValueError(feature, value, reason, row=row)
