"""One feature (column) of a linkage schema: how its value is checked, formatted and tokenized."""

from __future__ import annotations

from dataclasses import dataclass

from aidlink.gateway.encoding.bloom import HashSpec
from aidlink.gateway.encoding.errors import FeatureValueError
from aidlink.gateway.encoding.formats import StringFormat, ValueFormat
from aidlink.gateway.encoding.strategy import Strategy
from aidlink.gateway.encoding.tokens import Tokenizer


@dataclass(frozen=True)
class MissingValue:
    """``hashing.missingValue``: a sentinel meaning "no value", hashed as ``replace_with``.

    The sentinel is not checked against the format. With no ``replaceWith`` the sentinel itself
    is tokenized, so a sentinel of ``""`` sets no bits at all.
    """

    sentinel: str
    replace_with: str | None = None

    @property
    def replacement(self) -> str:
        return self.sentinel if self.replace_with is None else self.replace_with


@dataclass(frozen=True)
class HashingSpec:
    """The ``hashing`` section of a feature that is not ignored."""

    tokenizer: Tokenizer
    strategy: Strategy
    hash: HashSpec = HashSpec()
    missing_value: MissingValue | None = None


@dataclass(frozen=True)
class Feature:
    """A feature of the schema; ``hashing`` and ``format`` are ``None`` when it is ignored."""

    identifier: str
    format: ValueFormat | None = None
    hashing: HashingSpec | None = None
    description: str | None = None

    @property
    def ignored(self) -> bool:
        return self.hashing is None

    @property
    def encoding(self) -> str:
        """Text encoding of tokens; only string features may choose one (clkhash behaviour)."""
        return self.format.encoding if isinstance(self.format, StringFormat) else "utf-8"

    @property
    def missing_value(self) -> MissingValue | None:
        return self.hashing.missing_value if self.hashing is not None else None

    def prepare(self, value: str) -> str:
        """Check ``value`` against the format and return the string to tokenize.

        Raises :class:`FeatureValueError` naming this feature and the reason.
        """
        if self.hashing is None or self.format is None:
            return ""
        if not isinstance(value, str):
            raise FeatureValueError(self.identifier, value, f"expected a string, got {type(value).__name__}")
        missing = self.hashing.missing_value
        if missing is not None and value == missing.sentinel:
            return missing.replacement
        try:
            value.encode(self.encoding)
        except UnicodeEncodeError:
            raise FeatureValueError(self.identifier, value, f"cannot be encoded as {self.encoding}") from None
        try:
            return self.format.canonical(value)
        except ValueError as exc:
            raise FeatureValueError(self.identifier, value, str(exc)) from None

    def tokens(self, value: str) -> list[str]:
        """The tokens ``value`` contributes to the filter (empty for ignored features)."""
        if self.hashing is None:
            return []
        prepared = self.prepare(value)
        try:
            return self.hashing.tokenizer(prepared)
        except ValueError as exc:
            raise FeatureValueError(self.identifier, value, f"cannot be tokenized: {exc}") from None
