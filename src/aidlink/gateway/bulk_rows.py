"""Normalizing and encoding many raw rows on several processes, in order, refusals per row.

For bulk commands that hold their rows in memory and start no threads (``aidlink encode``,
``aidlink bench encode``): ``workers`` processes in all, this one included, take chunks of rows
from a shared counter (:func:`gateway.encoding.bulk.run_chunks`); the pipeline and the rows reach
the forked children by ``fork`` (nothing pickled on the way in), and each chunk comes back as its
encodings joined into one ``bytes`` and the problems of its refused rows. A process with threads
(the gateway server) must not fork: it uses ``RecordPipeline.records``, batched in its own process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aidlink.gateway.encoding.bulk import CHUNK_RECORDS, ProcessShare, run_chunks
from aidlink.gateway.pipeline import RecordPipeline, RowRefused

_JOB: tuple[RecordPipeline, Sequence[Mapping[str, str]]] | None = None  # set before the fork, inherited


def _encode_range(start: int, stop: int) -> tuple[bytes, list[tuple[int, list[tuple[str, str]]]]]:
    assert _JOB is not None, "set before the fork"
    pipeline, rows = _JOB
    clks: list[bytes] = []
    refused: list[tuple[int, list[tuple[str, str]]]] = []
    for offset, result in enumerate(pipeline.encode_rows(rows[start:stop])):
        if isinstance(result, RowRefused):
            refused.append((offset, result.problems))
        else:
            clks.append(result)
    return b"".join(clks), refused


def encode_rows_in_processes(
    pipeline: RecordPipeline,
    rows: Sequence[Mapping[str, str]],
    workers: int,
    *,
    chunk: int = CHUNK_RECORDS,
    shares: list[ProcessShare] | None = None,
) -> list[bytes | RowRefused]:
    """``pipeline.encode_rows(rows)`` on ``workers`` processes in all (1: in this process): per
    row, in order, its encoding or its :class:`RowRefused` with every (field, reason). ``shares``:
    see :func:`gateway.encoding.bulk.run_chunks`."""
    global _JOB
    size = pipeline.encoder.length_bytes
    _JOB = (pipeline, rows)
    try:
        parts = run_chunks(_encode_range, len(rows), workers, chunk, shares=shares)
    finally:
        _JOB = None
    out: list[bytes | RowRefused] = []
    for blob, refused in parts:
        clks = [blob[i : i + size] for i in range(0, len(blob), size)]
        if not refused:
            out.extend(clks)
            continue
        part: list[bytes | RowRefused] = []
        taken = 0
        for offset, problems in refused:
            while len(part) < offset:
                part.append(clks[taken])
                taken += 1
            part.append(RowRefused(problems))
        part.extend(clks[taken:])
        out.extend(part)
    return out
