"""Key scope: the agreement and period a node's encodings, blocking tokens and pseudonyms are made for.

Every key a :class:`~aidlink.gateway.pipeline.RecordPipeline` uses is derived from the linkage
secret *and* the scope (``keyderivation.scoped_secret``: HKDF-SHA256, info
``aidlink key scope|<scope>``), so the same person encoded under two scopes gives unrelated
encodings and tokens: a matcher that keeps datasets of several exchanges or periods cannot pool
them into one corpus (the privacy bench measured that re-identification grows with the corpus).
Both sides of an agreement must encode under the same scope; the matcher refuses to compare
encodings of different scopes.

The scope travels as part of the schema fingerprint every upload and query declares:
``<schema sha256>/scope-<16 hex>`` (the scope's own fingerprint, not its text), so every place
that already refuses a compare across schema fingerprints refuses one across scopes, while the
matcher's per-schema policy (threshold, floor, optional segments) is looked up by the schema part.
An unscoped pipeline declares the bare schema fingerprint, as before.

A scope is a free text both sides agree on, e.g. ``"agreement A-17|{quarter}"``;
:func:`expand_scope` replaces ``{quarter}`` (``2026-Q4``) and ``{year}`` with the date's.
"""

from __future__ import annotations

import hashlib
from datetime import date

SCOPE_MARK = "/scope-"
MAX_SCOPE_CHARS = 200


class KeyScopeError(ValueError):
    """A scope text that cannot be used (empty after stripping, too long, an unknown placeholder)."""


def scope_fingerprint(scope: str) -> str:
    """16 hex characters naming a scope without revealing its text."""
    return hashlib.sha256(b"aidlink key scope fingerprint|" + scope.encode()).hexdigest()[:16]


def scoped_schema_fingerprint(schema_fingerprint: str, scope: str) -> str:
    """What an upload declares: the schema fingerprint, with the scope's when there is one."""
    return f"{schema_fingerprint}{SCOPE_MARK}{scope_fingerprint(scope)}" if scope else schema_fingerprint


def split_fingerprint(declared: str) -> tuple[str, str]:
    """(schema fingerprint, scope fingerprint or "") of a declared fingerprint."""
    schema, _, scope = declared.partition(SCOPE_MARK)
    return schema, scope


def expand_scope(template: str, day: date) -> str:
    """The scope for ``day``: ``{quarter}`` -> ``2026-Q4``, ``{year}`` -> ``2026``."""
    text = template.strip()
    if len(text) > MAX_SCOPE_CHARS:
        raise KeyScopeError(f"key scope: at most {MAX_SCOPE_CHARS} characters, got {len(text)}")
    quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    try:
        return text.format(quarter=quarter, year=str(day.year))
    except (KeyError, IndexError, ValueError) as exc:
        raise KeyScopeError(
            f"key scope {template!r}: only the placeholders {{quarter}} and {{year}} are known ({exc})"
        ) from None
