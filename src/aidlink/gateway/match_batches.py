"""Batched matches as the node receives and relays them (MatchBatch from the matcher,
LocalMatchBatch to the department's systems): columns, where entry i of each belongs to
match i. The node translates the references column and copies the others untouched."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from aidlink.v1 import gateway_pb2, matcher_pb2


class _Columns(Protocol):
    @property
    def scores(self) -> Sequence[float]: ...
    @property
    def disputed(self) -> Sequence[int]: ...
    @property
    def attributes(self) -> Sequence[matcher_pb2.AttributeColumn]: ...


def batch_problem(batch: _Columns, ids: Sequence[str], ids_field: str) -> str | None:
    """Why a batch's columns do not line up (None when they do)."""
    n = len(ids)
    if len(batch.scores) != n:
        return f"{len(batch.scores)} scores for {n} {ids_field}"
    for column in batch.attributes:
        if len(column.values) != n:
            return f"attribute {column.name!r} has {len(column.values)} values for {n} {ids_field}"
        if any(i >= n for i in column.missing):
            return f"attribute {column.name!r} lists a missing position past the batch's {n} matches"
    if any(i >= n for i in batch.disputed):
        return f"a disputed position is past the batch's {n} matches"
    return None


def attribute_rows(batch: _Columns) -> list[dict[str, str]]:
    """Each match's attributes as a dict (a missing attribute is absent, as in a single Match)."""
    rows: list[dict[str, str]] = [{} for _ in range(len(batch.scores))]
    for column in batch.attributes:
        name, missing = column.name, set(column.missing)
        for i, value in enumerate(column.values):
            if i not in missing:
                rows[i][name] = value
    return rows


def disputed_flags(batch: _Columns) -> list[bool]:
    flags = [False] * len(batch.scores)
    for i in batch.disputed:
        flags[i] = True
    return flags


# A relayed batch is kept to this many serialized bytes, as the matcher keeps its own: record ids
# may be longer than the references they replace.
MAX_RELAYED_BATCH_BYTES = 1 << 20


def _slice(message, ids_field: str, start: int, stop: int):
    """Matches ``start:stop`` of a batch message, positions renumbered."""
    out = type(message)()
    getattr(out, ids_field).extend(getattr(message, ids_field)[start:stop])
    out.scores.extend(message.scores[start:stop])
    out.disputed.extend(i - start for i in message.disputed if start <= i < stop)
    for column in message.attributes:
        part = out.attributes.add(name=column.name)
        part.values.extend(column.values[start:stop])
        part.missing.extend(i - start for i in column.missing if start <= i < stop)
    return out


@dataclass(frozen=True)
class RemoteMatchBatch:
    """Matches by the matcher's reference, as one message carried them."""

    message: matcher_pb2.MatchBatch

    def __post_init__(self) -> None:
        problem = batch_problem(self.message, self.message.my_refs, "my_refs")
        if problem:
            raise ValueError(f"the matcher sent a malformed match batch: {problem}")

    def __len__(self) -> int:
        return len(self.message.scores)

    def resolved(self, resolve: Callable[[str], str]) -> LocalMatchBatch:
        """The same matches under this department's record ids."""
        local = gateway_pb2.LocalMatchBatch(record_ids=[resolve(ref) for ref in self.message.my_refs])
        local.scores.extend(self.message.scores)
        local.disputed.extend(self.message.disputed)
        local.attributes.extend(self.message.attributes)
        return LocalMatchBatch(local)


@dataclass(frozen=True)
class LocalMatchBatch:
    """Matches by this department's record id, as one message carries them."""

    message: gateway_pb2.LocalMatchBatch

    def __len__(self) -> int:
        return len(self.message.scores)

    def pieces(self, max_bytes: int = MAX_RELAYED_BATCH_BYTES) -> Iterator[LocalMatchBatch]:
        """This batch, halved until each part is at most ``max_bytes`` (or a single match)."""
        n = len(self)
        if n <= 1 or self.message.ByteSize() <= max_bytes:
            yield self
            return
        half = n // 2
        for start, stop in ((0, half), (half, n)):
            yield from LocalMatchBatch(_slice(self.message, "record_ids", start, stop)).pieces(max_bytes)

    def matches(self) -> list[gateway_pb2.LocalMatch]:
        m = self.message
        return [
            gateway_pb2.LocalMatch(record_id=rid, score=score, attributes=attrs, disputed=disputed)
            for rid, score, attrs, disputed in zip(
                m.record_ids, m.scores, attribute_rows(m), disputed_flags(m), strict=True
            )
        ]


def local_matches(event: gateway_pb2.GatewayCompareEvent) -> list[gateway_pb2.LocalMatch]:
    """The matches one gateway compare event carries (a single LocalMatch, or a batch of them)."""
    kind = event.WhichOneof("event")
    if kind == "match":
        return [event.match]
    if kind == "matches":
        return LocalMatchBatch(event.matches).matches()
    return []


def remote_matches(event: matcher_pb2.CompareEvent) -> list[matcher_pb2.Match]:
    """The matches one matcher compare event carries (a single Match, or a batch of them)."""
    kind = event.WhichOneof("event")
    if kind == "match":
        return [event.match]
    if kind == "matches":
        b = RemoteMatchBatch(event.matches).message
        return [
            matcher_pb2.Match(my_ref=ref, score=score, attributes=attrs, disputed=disputed)
            for ref, score, attrs, disputed in zip(b.my_refs, b.scores, attribute_rows(b), disputed_flags(b))
        ]
    return []
