"""Field-level problems found while normalizing a person record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field: which field, the value as given, and why."""

    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}={self.value!r}: {self.reason}"


class InvalidField(ValueError):
    """A single field failed its normalization rule."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        self.issue = FieldIssue(field, value, reason)
        super().__init__(str(self.issue))


class RowRejected(ValueError):
    """A record has at least one fatal problem; ``issues`` lists all of them."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        if not issues:
            raise ValueError("RowRejected needs at least one issue")
        self.issues = list(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues))
