"""Encoding many records on several worker processes, in order, with per-row errors.

The records are handed to the workers by ``fork`` (inherited memory, nothing pickled on the
way in); each worker builds its own :class:`Encoder` once and sends back, per chunk, the CLKs
joined into one ``bytes`` and the errors of the rows that failed. Chunks come back in order
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

_JOB: tuple[LinkageSchema, bytes, bytes, Sequence[Record]] | None = None  # set in the parent, inherited by fork
_ENCODER: Encoder | None = None


def _start_worker() -> None:
    global _ENCODER
    assert _JOB is not None, "set before the pool forks"
    schema, secret, scope, _ = _JOB
    _ENCODER = Encoder(schema, secret, scope=scope)


def _encode_range(bounds: tuple[int, int]) -> tuple[bytes, list[tuple[int, RecordError]]]:
    assert _JOB is not None and _ENCODER is not None
    start, stop = bounds
    clks: list[bytes] = []
    errors: list[tuple[int, RecordError]] = []
    for offset, clk in enumerate(_ENCODER.encode_each(_JOB[3][start:stop])):
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
    if workers == 1 or len(records) <= chunk:
        encoder = Encoder(schema, secret, scope=scope)
        return [c.at_row(i) if isinstance(c, RecordError) else c for i, c in enumerate(encoder.encode_each(records))]
    global _JOB
    size = Encoder(schema, secret, scope=scope).length_bytes
    ranges = [(start, min(start + chunk, len(records))) for start in range(0, len(records), chunk)]
    out: list[bytes | RecordError] = []
    _JOB = (schema, bytes(secret), scope, records)
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker) as pool:
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
