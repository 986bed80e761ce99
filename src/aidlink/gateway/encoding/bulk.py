"""Encoding many records on several processes, in order, with per-row errors.

``workers`` counts every process that encodes, this one included: with 2, this process and one
forked child take chunks of rows from a shared counter until none is left (the quicker one takes
more, so a loaded core does not hold the other up). The records reach the children by ``fork``
(inherited memory, nothing pickled on the way in) with the garbage collector's objects frozen
first (``gc.freeze``), so the children's collections do not write to every inherited page. Each
child sends back, once, its chunks' CLKs as one ``bytes`` per chunk and the errors of the rows
that failed; the result is one blob of every row's CLK in row order (:class:`EncodedRecords`),
with no per-record work in this process.

Fork is used on purpose: the records may be large, and pickling them to the workers would cost
more than the encoding saves. Call this before the process starts threads (a gRPC server, say):
a forked child of a threaded process may inherit a held lock.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from aidlink.gateway.encoding.encoder import Encoder, Record
from aidlink.gateway.encoding.errors import RecordError
from aidlink.gateway.encoding.schema import LinkageSchema

CHUNK_RECORDS = 8192  # rows a process takes at a time: ~0.3 s of encoding, few enough to balance a loaded core

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessShare:
    """What one process did in :func:`run_chunks`: its rows, chunks and CPU seconds (user + system)."""

    parent: bool
    rows: int
    chunks: int
    cpu_seconds: float


@dataclass(frozen=True)
class EncodedRecords:
    """Every row's CLK in row order, ``size`` bytes each, in one blob; a row that failed holds
    zero bytes there and its :class:`RecordError` (row set) in ``errors``."""

    blob: bytes
    size: int
    errors: dict[int, RecordError]

    def __len__(self) -> int:
        return len(self.blob) // self.size if self.size else 0

    def clk(self, row: int) -> bytes | RecordError:
        """Row ``row``'s CLK, or its error."""
        error = self.errors.get(row)
        if error is not None:
            return error
        return self.blob[row * self.size : (row + 1) * self.size]

    def as_list(self) -> list[bytes | RecordError]:
        """Per row its CLK or its error (one slice per row: for callers that need a list)."""
        size, blob = self.size, self.blob
        out: list[bytes | RecordError] = [blob[i : i + size] for i in range(0, len(blob), size)]
        for row, error in self.errors.items():
            out[row] = error
        return out


class _Shared(Generic[T]):
    """Chunks claimed from a counter shared by this process and its forked children."""

    def __init__(self, work: Callable[[int, int], T], bounds: list[tuple[int, int]]) -> None:
        context = multiprocessing.get_context("fork")
        self.context = context
        self.work = work
        self.bounds = bounds
        self._next = context.RawValue("q", 0)
        self._lock = context.Lock()

    def claim(self) -> int:
        with self._lock:
            index = self._next.value
            self._next.value = index + 1
        return index

    def drain(self, parent: bool) -> tuple[list[tuple[int, T]], ProcessShare]:
        """Encode chunks until none is left: (chunk index, result) of each done here, and the share."""
        cpu = time.process_time()
        done = []
        rows = 0
        while (index := self.claim()) < len(self.bounds):
            start, stop = self.bounds[index]
            done.append((index, self.work(start, stop)))
            rows += stop - start
        return done, ProcessShare(parent, rows, len(done), time.process_time() - cpu)

    def child(self, sender: Connection) -> None:
        """A forked child's whole life: drain, send the results once, exit."""
        try:
            message: tuple[str, Any] = ("ok", self.drain(parent=False))
        except BaseException as exc:
            message = ("error", exc)
        try:
            sender.send(message)
        except Exception as exc:
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        sender.close()


def run_chunks(
    work: Callable[[int, int], T],
    total: int,
    workers: int,
    chunk: int = CHUNK_RECORDS,
    *,
    shares: list[ProcessShare] | None = None,
) -> list[T]:
    """``[work(start, stop) for each chunk of range(total)]`` on ``workers`` processes, this one
    included (1: here, no fork). ``work`` runs in forked children and must return a picklable
    result; an exception it raises in a child is raised here. ``shares``, if given, receives what
    each process did (this one first), for benchmarks."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    bounds = [(start, min(start + chunk, total)) for start in range(0, total, chunk)]
    children_wanted = min(workers, len(bounds)) - 1
    shared = _Shared(work, bounds)
    if children_wanted < 1:
        done, share = shared.drain(parent=True)
        if shares is not None:
            shares.append(share)
        return [result for _, result in done]
    children: list[tuple[Any, Connection]] = []
    results: dict[int, T] = {}
    gc.freeze()  # inherited objects stay out of the children's collections (no copy-on-write by GC)
    try:
        for _ in range(children_wanted):
            receiver, sender = shared.context.Pipe(duplex=False)
            process = shared.context.Process(target=shared.child, args=(sender,), daemon=True)
            process.start()
            sender.close()
            children.append((process, receiver))
        done, share = shared.drain(parent=True)
        results.update(done)
        received = [share]
        for process, receiver in children:
            try:
                status, payload = receiver.recv()
            except EOFError:
                process.join()
                raise RuntimeError(f"an encoding worker process died (exit code {process.exitcode})") from None
            if status != "ok":
                raise payload
            done, share = payload
            results.update(done)
            received.append(share)
        if shares is not None:
            shares.extend(received)
    finally:
        gc.unfreeze()
        for process, receiver in children:
            receiver.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
    return [results[index] for index in range(len(bounds))]


_JOB: tuple[Encoder, Sequence[Record]] | None = None  # set before the fork, inherited by the children


def _encode_range(start: int, stop: int) -> tuple[bytes, list[tuple[int, RecordError]]]:
    assert _JOB is not None, "set before the fork"
    encoder, records = _JOB
    blob, errors = encoder.encode_blob(records[start:stop])
    return blob, [(start + offset, error) for offset, error in errors]


def encode_blob_in_processes(
    schema: LinkageSchema,
    secret: bytes,
    records: Sequence[Record],
    workers: int,
    *,
    scope: bytes = b"",
    chunk: int = CHUNK_RECORDS,
    shares: list[ProcessShare] | None = None,
) -> EncodedRecords:
    """Every record's CLK in one blob, in order, and the errors located at their 0-based rows,
    encoded on ``workers`` processes in all (this one included; 1: no fork). ``shares``: see
    :func:`run_chunks`."""
    global _JOB
    encoder = Encoder(schema, secret, scope=scope)
    _JOB = (encoder, records)
    try:
        parts = run_chunks(_encode_range, len(records), workers, chunk, shares=shares)
    finally:
        _JOB = None
    errors = {row: error.at_row(row) for _, located in parts for row, error in located}
    return EncodedRecords(b"".join([blob for blob, _ in parts]), encoder.length_bytes, errors)


def encode_in_processes(
    schema: LinkageSchema,
    secret: bytes,
    records: Sequence[Record],
    workers: int,
    *,
    scope: bytes = b"",
    chunk: int = CHUNK_RECORDS,
) -> list[bytes | RecordError]:
    """Per record, in order, its CLK or its :class:`RecordError` located at its 0-based row
    (:func:`encode_blob_in_processes`, then one slice per record)."""
    return encode_blob_in_processes(schema, secret, records, workers, scope=scope, chunk=chunk).as_list()
