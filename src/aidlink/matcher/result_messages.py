"""A comparison's result on the wire: the messages the gRPC servicer streams and the offline
bundle import seals are built here, once, so the two paths answer alike."""

from __future__ import annotations

from collections.abc import Iterator

from aidlink.matcher.compared_matches import ComparedMatches, MatchedRecord
from aidlink.matcher.exchange import Comparison
from aidlink.result_notice import NOTICE
from aidlink.v1 import common_pb2, matcher_pb2

# A batch of matches is at most this many serialized bytes (unless one match alone is larger);
# well under gRPC's default 4 MiB receive limit.
MAX_BATCH_BYTES = 1 << 20
_FIRST_BATCH_MATCHES = 512


def match_message(m: MatchedRecord) -> matcher_pb2.Match:
    return matcher_pb2.Match(my_ref=m.ref, score=m.score, attributes=m.attributes, disputed=m.disputed)


def batch_message(matches: ComparedMatches, start: int, stop: int) -> matcher_pb2.MatchBatch:
    """Matches ``start:stop`` as one columnar message."""
    cols = matches.columns(start, stop)
    batch = matcher_pb2.MatchBatch()
    batch.my_refs.extend(cols.refs)
    batch.scores.extend(cols.scores)
    batch.disputed.extend(cols.disputed)
    for name, (values, missing) in cols.attributes.items():
        column = batch.attributes.add(name=name)
        column.values.extend(values)
        column.missing.extend(missing)
    return batch


def match_batches(matches: ComparedMatches, max_bytes: int = MAX_BATCH_BYTES) -> Iterator[matcher_pb2.MatchBatch]:
    """The matches in order, in batches of at most ``max_bytes`` serialized bytes each.

    The number of matches per batch is estimated from the previous batch's size; a batch
    that comes out too large is built again with half as many (only one match is ever
    sent alone above the limit).
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive; got {max_bytes}")
    start, count = 0, _FIRST_BATCH_MATCHES
    while start < len(matches):
        stop = min(start + count, len(matches))
        batch = batch_message(matches, start, stop)
        size = batch.ByteSize()
        if size > max_bytes and stop - start > 1:
            count = max(1, (stop - start) // 2)
            continue
        yield batch
        per_match = size / (stop - start)
        count = max(1, min(2 * count, int(0.9 * max_bytes / per_match)))
        start = stop


def summary_message(result: Comparison) -> matcher_pb2.CompareSummary:
    return matcher_pb2.CompareSummary(
        my_dataset=result.mine.qualified_name,
        my_version=result.mine.version,
        other_dataset=result.other.qualified_name,
        other_version=result.other.version,
        my_records=result.mine.records,
        matches=len(result.matches),
        comparisons=result.comparisons,
        threshold=result.threshold,
        agreement=result.agreement.id,
        notice=common_pb2.ResultNotice(text=NOTICE),
    )
