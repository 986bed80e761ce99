"""Encoding many records on several worker processes, in order, with per-row errors.

The records are handed to the workers by ``fork`` (inherited memory, nothing pickled on the
way in), and so is the encoder, after it encoded the first chunk in this process: the workers
start with its token tables filled. Each worker sends back, per chunk, the CLKs joined into one
``bytes`` and the errors of the rows that failed. Chunks come back in order
(``Pool.imap``), so the result lines up with the input row for row.

Fork is used on purpose: the records may be large, and pickling them to the workers would cost
the parent more than the encoding saves. Call this before the process starts threads (a gRPC
server, say): a forked child of a threaded process may inherit a held lock.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence

from aidlink.gateway.encoding.encoder import BATCH_RECORDS, Encoder, Record
from aidlink.gateway.encoding.errors import RecordError
from aidlink.gateway.encoding.schema import LinkageSchema

_JOB: tuple[Encoder, Sequence[Record]] | None = None  # set in the parent, inherited by fork


def _encode_range(bounds: tuple[int, int]) -> tuple[bytes, list[tuple[int, RecordError]]]:
    assert _JOB is not None, "set before the pool forks"
    encoder, records = _JOB
    start, stop = bounds
    clks: list[bytes] = []
    errors: list[tuple[int, RecordError]] = []
    for offset, clk in enumerate(encoder.encode_each(records[start:stop])):
        if isinstance(clk, RecordError):
            errors.append((start + offset, clk))
        else:
            clks.append(clk)
    return b"".join(clks), errors


def encode_in_processes(
    schema: LinkageSchema,
    secret: bytes,
    records: Sequence[Record],
    workers: int,
    *,
    scope: bytes = b"",
    chunk: int = BATCH_RECORDS,
) -> list[bytes | RecordError]:
    """Per record, in order, its CLK or its :class:`RecordError` located at its 0-based row.

    ``workers`` processes (1: in this process, no pool)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    encoder = Encoder(schema, secret, scope=scope)
    if workers == 1 or len(records) <= chunk:
        return [c.at_row(i) if isinstance(c, RecordError) else c for i, c in enumerate(encoder.encode_each(records))]
    global _JOB
    size = encoder.length_bytes
    out = [c.at_row(i) if isinstance(c, RecordError) else c for i, c in enumerate(encoder.encode_each(records[:chunk]))]
    ranges = [(start, min(start + chunk, len(records))) for start in range(chunk, len(records), chunk)]
    _JOB = (encoder, records)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for (start, stop), (blob, errors) in zip(ranges, pool.imap(_encode_range, ranges)):
                failed = dict(errors)
                position = 0
                for row in range(start, stop):
                    error = failed.get(row)
                    if error is not None:
                        out.append(error.at_row(row))
                    else:
                        out.append(blob[position : position + size])
                        position += size
    finally:
        _JOB = None
    return out
