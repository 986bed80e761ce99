"""Normalizing and encoding many raw rows on several worker processes, in order, refusals per row.

For bulk commands that hold their rows in memory and start no threads (``aidlink encode``,
``aidlink bench encode``): the pipeline and the rows reach the workers by ``fork`` (nothing
pickled on the way in), the pipeline after it encoded the first chunk here (warm tables); each chunk comes back as its encodings joined into one ``bytes`` and the
problems of its refused rows, in order (``Pool.imap``). A process with threads (the gateway
server) must not fork: it uses ``RecordPipeline.records``, batched in its own process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence

from aidlink.gateway.encoding.encoder import BATCH_RECORDS
from aidlink.gateway.pipeline import RecordPipeline, RowRefused

_JOB: tuple[RecordPipeline, Sequence[Mapping[str, str]]] | None = None  # set in the parent, inherited by fork


def _encode_range(bounds: tuple[int, int]) -> tuple[bytes, list[tuple[int, list[tuple[str, str]]]]]:
    assert _JOB is not None, "set before the pool forks"
    pipeline, rows = _JOB
    start, stop = bounds
    clks: list[bytes] = []
    refused: list[tuple[int, list[tuple[str, str]]]] = []
    for offset, result in enumerate(pipeline.encode_rows(rows[start:stop])):
        if isinstance(result, RowRefused):
            refused.append((start + offset, result.problems))
        else:
            clks.append(result)
    return b"".join(clks), refused


def encode_rows_in_processes(
    pipeline: RecordPipeline, rows: Sequence[Mapping[str, str]], workers: int, *, chunk: int = BATCH_RECORDS
) -> list[bytes | RowRefused]:
    """``pipeline.encode_rows(rows)`` on ``workers`` processes (1: in this process): per row, in
    order, its encoding or its :class:`RowRefused` with every (field, reason)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or len(rows) <= chunk:
        return pipeline.encode_rows(rows)
    global _JOB
    size = pipeline.encoder.length_bytes
    out = pipeline.encode_rows(rows[:chunk])
    ranges = [(start, min(start + chunk, len(rows))) for start in range(chunk, len(rows), chunk)]
    _JOB = (pipeline, rows)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for (start, stop), (blob, refused) in zip(ranges, pool.imap(_encode_range, ranges)):
                problems = dict(refused)
                position = 0
                for row in range(start, stop):
                    faults = problems.get(row)
                    if faults is not None:
                        out.append(RowRefused(faults))
                    else:
                        out.append(blob[position : position + size])
                        position += size
    finally:
        _JOB = None
    return out
