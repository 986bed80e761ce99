"""The blocked join (keyed tokens + Hamming LSH bands) on a Dask cluster, by key partition.

Both sides' keys are cut into ``P`` partitions by key (:mod:`matcher.distributed.key_partitions`);
each partition's records (uint8 encodings plus their uint64 keys in that partition, nothing
else) are scattered to one worker, which runs the in-process blocked join on them
(:func:`matcher.distributed.tasks.join_key_partition`). Answers come back as partitions finish;
the matcher maps them to original rows and keeps each pair only from the partition that owns
it (its smallest shared key's), so the union is exactly
``matcher.similarity.blocking.blocked_candidate_pairs`` on the whole data: same pairs, same
scores bit for bit, and, merged, the same canonical order.

Missing-aware (a segmented schema, ``segments`` given): the join the matcher runs in process is
:func:`matcher.missing_aware.missing_aware_match`, where a pair's keys are the tokens plus the
LSH band keys of both records masked to the segments both have. The matcher computes every such
masked version's band keys once (:func:`matcher.missing_aware.version_keys`) and cuts records
into partitions by all their keys as above; a worker gets its partition's encodings and keys,
each key tagged with the version it belongs to, and runs ``missing_aware_pairs`` with the
in-process finder given each presence-group pair's version of the keys
(:func:`matcher.distributed.tasks.join_key_partition_missing_aware`). The matcher keeps a pair
from the partition of the smallest key the two records share in that version: again exactly the
in-process pairs and scores, each once.

Worker loss: the matcher keeps the arrays the partitions were cut from. A partition whose
worker or data was lost is cut and scattered again from them and runs once more; if that
fails too, :class:`JoinFailed` names the dataset and the partition. A partition whose kernel
refuses (bad input) fails at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field

import numpy as np
from distributed import Client, Future, KilledWorker, as_completed

from aidlink.matcher.distributed.errors import JoinFailed, describe
from aidlink.matcher.distributed.key_partitions import KeyPartition, owning_partitions, plan_partitions
from aidlink.matcher.distributed.metrics import JoinMetrics
from aidlink.matcher.distributed.partitions import check_encodings
from aidlink.matcher.distributed.tasks import (
    BLOCKED_TASK_PREFIX,
    KeyPartitionAnswer,
    join_key_partition,
    join_key_partition_missing_aware,
)
from aidlink.matcher.missing_aware import OptionalSegments, VersionKeys, version_keys
from aidlink.matcher.similarity import CandidatePairs
from aidlink.matcher.similarity.blocking import BlockingKeys
from aidlink.matcher.similarity.lsh import BitSamplingLsh
from aidlink.observability.tracing import carrier

logger = logging.getLogger(__name__)

# Failures that mean "a worker or the data on it went away", worth one more try (a
# cancelled future raises distributed.FutureCancelledError, a CancelledError).
_LOST = (CancelledError, KilledWorker, OSError, TimeoutError)
_POLL_SECONDS = 0.02  # how often the matcher looks for finished partitions
_LOST_WORKER_SECONDS = 0.5  # before sending again after a send failed


@dataclass(frozen=True)
class PartitionPairs:
    """One key partition's answer: the pairs it owns (original rows, canonical order)."""

    number: int
    pairs: CandidatePairs
    candidates: int  # pairs sharing one of its keys (a pair sharing keys in k partitions counts k times)
    seconds: float  # kernel time on the worker


@dataclass
class BlockedJoinStats:
    """What a blocked join on the cluster moved and did (filled in as partitions finish)."""

    partitions: int = 0  # partitions where both sides have records
    bytes_sent: int = 0  # encodings and keys scattered to workers (retries included)
    records_sent: int = 0  # record copies scattered, both sides (retries included)
    candidates: int = 0
    retries: int = 0
    retry_causes: list[str] = field(default_factory=list)  # one line per retry: partition and why


class DaskBlockedJoin:
    """The blocked join of A against B on the workers of ``client``, by key partition.

    ``a_keys``/``b_keys``: every key (tokens and LSH bands); with ``segments`` (missing-aware),
    the tokens only, and ``lsh`` gives the band keys of each masked version (None: tokens only)."""

    def __init__(
        self,
        client: Client,
        dataset: str,
        a: np.ndarray,
        a_keys: BlockingKeys,
        b: np.ndarray,
        b_keys: BlockingKeys,
        threshold: float,
        *,
        partitions: int,
        metrics: JoinMetrics,
        worker_threads: int = 1,
        timeout: float = 600.0,
        in_flight: int | None = None,
        segments: OptionalSegments | None = None,
        lsh: BitSamplingLsh | None = None,
    ) -> None:
        check_encodings(a, f"blocked join against dataset {dataset!r}, A side")
        check_encodings(b, f"blocked join against dataset {dataset!r}, B side")
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"A has {a.shape[1] * 8}-bit and B {b.shape[1] * 8}-bit encodings")
        if len(a_keys) != len(a) or len(b_keys) != len(b):
            raise ValueError(
                f"blocking keys for {len(a_keys)} and {len(b_keys)} records, "
                f"but the datasets have {len(a)} and {len(b)}"
            )
        threshold = float(threshold)
        if not threshold > 0:
            raise ValueError(f"blocking needs a threshold above 0; got {threshold} (use the exhaustive join)")
        self.client, self.dataset = client, dataset
        self.a, self.b = a, b
        self.a_keys, self.b_keys = a_keys.keys, b_keys.keys
        self.segments = segments
        self.versions: tuple[VersionKeys, VersionKeys] | None = None
        if segments is not None:  # route by tokens and every masked version's band keys
            self.versions = version_keys(a, self.a_keys, b, self.b_keys, segments, lsh)
            self.a_keys, self.b_keys = self.versions[0].keys, self.versions[1].keys
            self.codes = (segments.presence(a), segments.presence(b))
        self.threshold, self.partitions = threshold, partitions
        self.metrics, self.worker_threads, self.timeout = metrics, worker_threads, timeout
        if in_flight is not None and (isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1):
            raise ValueError(f"in_flight must be a positive integer; got {in_flight!r}")
        self.in_flight = in_flight
        self._sent = 0  # partitions sent so far (spreads them over the workers in turn)
        self.plan = {p.number: p for p in plan_partitions(self.a_keys, self.b_keys, partitions)}
        self.stats = BlockedJoinStats(partitions=len(self.plan))

    # -- sending partitions -------------------------------------------------------------------

    def _workers(self) -> list[str]:
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            raise OSError("the Dask cluster has no workers")
        return workers

    def _submit(self, numbers: list[int], trace_context, attempt: int) -> dict[Future, int]:
        """Scatter partitions ``numbers`` (each whole to one worker, one at a time, so the
        matcher holds one partition's payload at once) and start their joins."""
        workers = self._workers()
        tasks: dict[Future, int] = {}
        for i, k in enumerate(numbers):
            worker = workers[(self._sent + i + attempt) % len(workers)]
            task: Callable[..., KeyPartitionAnswer] = join_key_partition
            extra: tuple[object, ...] = ()
            if self.versions is None:
                payload = self.plan[k].payload(self.a, self.a_keys, self.b, self.b_keys, self.partitions)
            else:
                a_keys, b_keys = self.versions
                payload = self.plan[k].tagged_payload(
                    self.a, a_keys.keys, a_keys.kept, self.b, b_keys.keys, b_keys.kept, self.partitions
                )
                task, extra = join_key_partition_missing_aware, (self.segments,)
            self.stats.bytes_sent += sum(array.nbytes for array in payload)
            self.stats.records_sent += len(self.plan[k].a_rows) + len(self.plan[k].b_rows)
            data = self.client.scatter(payload, workers=[worker], hash=False, timeout=self.timeout)
            future = self.client.submit(
                task,
                *data,
                self.threshold,
                self.worker_threads,
                *extra,
                trace_context,
                pure=False,
                key=f"{BLOCKED_TASK_PREFIX}{k}-{uuid.uuid4().hex}",
            )
            tasks[future] = k
        self._sent += len(numbers)
        return tasks

    # -- answers as they finish ---------------------------------------------------------------

    def __iter__(self) -> Iterator[PartitionPairs]:
        """Each partition's owned pairs as soon as it finishes (in no fixed partition order).

        At most ``in_flight`` partitions are on the workers at once (default: two per worker),
        so a worker holds a few partitions' records, not its share of all of them. ``timeout``
        bounds the wait for the next partition to answer (not the whole join)."""
        if not self.plan:
            return
        trace_context = carrier()  # each task's span continues the caller's trace on its worker
        attempts = dict.fromkeys(self.plan, 0)
        waiting = sorted(self.plan)
        limit = self.in_flight or 2 * len(self._workers())
        tasks: dict[Future, int] = {}
        try:
            tasks = self._send(waiting[:limit], trace_context, attempts)
            waiting = waiting[limit:]
            finished = as_completed(list(tasks), loop=self.client.loop)
            ready: deque[Future] = deque()
            deadline = time.monotonic() + self.timeout
            while tasks:
                if not ready:
                    ready.extend(finished.next_batch(block=False))
                if not ready:
                    if time.monotonic() > deadline:
                        k = min(tasks.values())
                        raise JoinFailed(self.dataset, k, self.partitions, f"no answer within {self.timeout:g} s")
                    time.sleep(_POLL_SECONDS)
                    continue
                deadline = time.monotonic() + self.timeout  # a partition answered: the clock restarts
                future = ready.popleft()
                k = tasks.pop(future)
                try:
                    answer = future.result()
                except Exception as exc:
                    if not isinstance(exc, _LOST) or attempts[k] >= 1:
                        suffix = "after one retry: " if attempts[k] else ""
                        raise JoinFailed(self.dataset, k, self.partitions, suffix + describe(exc)) from exc
                    attempts[k] += 1
                    self._count_retry(k, "its worker was lost", exc)
                    again = self._send([k], trace_context, attempts)
                    tasks.update(again)
                    finished.update(list(again))
                    continue
                finally:
                    future.release()
                if waiting:
                    more = self._send(waiting[:1], trace_context, attempts)
                    waiting = waiting[1:]
                    tasks.update(more)
                    finished.update(list(more))
                yield self._owned(k, answer)
        finally:
            if tasks:
                self.client.cancel(list(tasks))

    def _send(self, numbers: list[int], trace_context, attempts: dict[int, int]) -> dict[Future, int]:
        """Scatter and start partitions ``numbers``, one by one. A send that fails (a worker went
        away: a closed comm, or a KeyError for a worker the scheduler has just removed) is tried
        once more when a worker is there; this does not use up the partition's one retry."""
        tasks: dict[Future, int] = {}
        for k in numbers:
            try:
                tasks.update(self._submit([k], trace_context, attempts[k]))
                continue
            except Exception as exc:
                self._count_retry(k, "sending it to a worker failed", exc)
                self._await_workers()
            try:
                tasks.update(self._submit([k], trace_context, attempts[k] + 1))
            except Exception as exc:
                self.client.cancel(list(tasks))
                suffix = "after one retry: " if attempts[k] else ""
                raise JoinFailed(
                    self.dataset, k, self.partitions, f"{suffix}sending it to a worker failed twice: {describe(exc)}"
                ) from exc
        return tasks

    def _count_retry(self, k: int, what: str, exc: BaseException) -> None:
        cause = f"partition {k} of {self.partitions}: {what} ({describe(exc)}); trying once more"
        self.stats.retries += 1
        self.stats.retry_causes.append(cause)
        self.metrics.retries.labels("dask", self.dataset).inc()
        logger.warning("blocked join of %s: %s", self.dataset, cause)

    def _await_workers(self) -> None:
        """After a lost worker: give the scheduler a moment to drop it, then wait for one."""
        time.sleep(_LOST_WORKER_SECONDS)
        try:
            self.client.wait_for_workers(1, timeout=min(self.timeout, 60.0))
        except Exception:  # the second send then fails and says why
            pass

    def _owned(self, k: int, answer: KeyPartitionAnswer) -> PartitionPairs:
        part: KeyPartition = self.plan[k]
        expected = (len(part.a_rows), len(part.b_rows))
        if tuple(answer.rows) != expected:
            raise JoinFailed(
                self.dataset, k, self.partitions, f"its worker held {answer.rows} rows, expected {expected}"
            )
        self.metrics.partition_seconds.labels("dask", self.dataset).observe(answer.seconds)
        self.stats.candidates += answer.candidates
        a_index, b_index = part.a_rows[answer.pairs.a_index], part.b_rows[answer.pairs.b_index]
        if self.versions is None:
            a_keys, b_keys = self.a_keys[a_index], self.b_keys[b_index]
        else:  # the keys of the version the pair was scored in: masked to the segments both have
            kept = self.codes[0][a_index] & self.codes[1][b_index]
            a_keys, b_keys = self.versions[0].of(a_index, kept), self.versions[1].of(b_index, kept)
        owned = owning_partitions(a_keys, b_keys, self.partitions) == k
        pairs = CandidatePairs(answer.pairs.scores[owned], a_index[owned], b_index[owned])
        # Local canonical order (score, a, b) survives the monotone row mapping, and filtering.
        return PartitionPairs(k, pairs, answer.candidates, answer.seconds)

    def candidate_pairs(self) -> CandidatePairs:
        """All partitions' pairs merged in canonical order: ``blocked_candidate_pairs``'s answer."""
        return CandidatePairs.concatenate(p.pairs for p in self)
