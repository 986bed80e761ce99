"""``join_backend = "dask"``: the similarity join spread over a Dask distributed cluster.

A loaded dataset is cut into popcount-ordered shards (:mod:`matcher.distributed.partitions`)
that are scattered to the workers once and stay there between queries. A join sends
each shard only the query rows that can pair in it, runs the local Dice kernel there
(:mod:`matcher.distributed.tasks`), gathers the answers and maps indices back; the
result is exactly ``matcher.similarity.candidate_pairs(query, dataset, threshold)``.

Worker loss: scattered data cannot be recomputed by Dask, so the backend keeps a
reference to the dataset's source array (the matcher's memory-mapped file). When a
partition fails because a worker or its data was lost, its shard is scattered again
from the source and the partition runs once more; if that also fails the join raises
:class:`JoinFailed` naming the dataset and partition. Every relevant partition must
answer, for the number of rows its shard holds, or there is no result at all.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, field

import numpy as np
from distributed import Client, Future, KilledWorker
from distributed.security import Security
from prometheus_client import CollectorRegistry

from aidlink.matcher.distributed.blocked import DaskBlockedJoin
from aidlink.matcher.distributed.errors import DatasetNotLoaded, JoinFailed, describe
from aidlink.matcher.distributed.metrics import join_metrics
from aidlink.matcher.distributed.partitions import ShardLayout, check_encodings, row_popcounts, row_positions
from aidlink.matcher.distributed.tasks import TASK_PREFIX, PartitionAnswer, join_partition
from aidlink.matcher.missing_aware import OptionalSegments
from aidlink.matcher.similarity import CandidatePairs
from aidlink.matcher.similarity.blocking import BlockingKeys
from aidlink.matcher.similarity.lsh import BitSamplingLsh
from aidlink.observability.tracing import carrier

Version = int | str | None

# Failures that mean "a worker or the data on it went away", worth one more try.
_LOST = (CancelledError, KilledWorker, OSError, TimeoutError)


@dataclass
class _Loaded:
    source: np.ndarray  # the matcher's own array (memory-mapped), for re-scattering
    version: Version
    layout: ShardLayout
    shards: list[Future] = field(default_factory=list)  # one scattered uint8 array per shard


@dataclass(frozen=True)
class _Failure:
    reason: str
    lost: bool  # lost worker or data: re-scatter and retry once


@dataclass(frozen=True)
class _Plan:
    query: np.ndarray
    subsets: dict[int, np.ndarray]  # partition -> query rows sent to it
    keeps: dict[int, np.ndarray | None]  # partition -> shard rows admitted by the filter
    b_maps: dict[int, np.ndarray]  # partition -> answer's b_index -> result b_index


class DaskJoinBackend:
    """The similarity join on a Dask cluster; same interface as ``LocalJoinBackend``.

    ``scheduler`` is a scheduler address (``tcp://host:8786``, ``tls://...``) or a
    connected ``distributed.Client`` (not closed by :meth:`close`). ``partitions``
    defaults to twice the cluster's worker threads at load time. ``worker_threads`` is
    the numba thread count per partition task (Dask runs one task per worker thread).
    ``timeout`` bounds each round of a join, in seconds.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | Client,
        *,
        partitions: int | None = None,
        security: Security | None = None,
        registry: CollectorRegistry | None = None,
        worker_threads: int = 1,
        timeout: float = 600.0,
        connect_timeout: float = 30.0,
    ) -> None:
        if partitions is not None and (
            isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1
        ):
            raise ValueError(f"partitions must be a positive integer; got {partitions!r}")
        if isinstance(scheduler, Client):
            self.client, self._owns_client = scheduler, False
        elif isinstance(scheduler, str) and scheduler:
            if scheduler.startswith("tls://") and _client_tls(security) is None:
                raise ValueError(
                    f"the Dask scheduler at {scheduler} speaks TLS: pass security="
                    f"dask_security(ca, cert, key) (or configure Dask's TLS settings)"
                )
            try:
                self.client = Client(scheduler, security=security, set_as_default=False, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
            self._owns_client = True
        else:
            raise ValueError(
                f"dask_scheduler must be a scheduler address like tcp://host:8786 "
                f"or a distributed.Client; got {scheduler!r}"
            )
        self.partitions = partitions
        self.worker_threads = worker_threads
        self.timeout = timeout
        self.metrics = join_metrics(registry if registry is not None else CollectorRegistry())
        self._datasets: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    # -- datasets on the workers --------------------------------------------------------------

    def load(self, dataset_key: str, encodings: np.ndarray, *, version: Version = None) -> None:
        """Shard ``encodings`` onto the workers, replacing (and freeing) any earlier version.

        The backend keeps a reference to ``encodings`` to re-scatter a lost shard: pass the
        memory-mapped array, not a copy.
        """
        check_encodings(encodings, f"dataset {dataset_key!r}")
        partitions = self.partitions or max(1, 2 * sum(self.client.nthreads().values()))
        loaded = _Loaded(encodings, version, ShardLayout.build(encodings, partitions))
        loaded.shards = self._scatter(loaded, range(len(loaded.layout.shards)))
        with self._lock:
            previous = self._datasets.get(dataset_key)
            self._datasets[dataset_key] = loaded
        if previous is not None:
            self.client.cancel(previous.shards)

    def loaded_version(self, dataset_key: str) -> Version:
        loaded = self._datasets.get(dataset_key)
        return None if loaded is None else loaded.version

    def evict(self, dataset_key: str) -> None:
        """Free a dataset's shards on the workers."""
        with self._lock:
            loaded = self._datasets.pop(dataset_key, None)
        if loaded is not None:
            self.client.cancel(loaded.shards)

    def shard_count(self, dataset_key: str) -> int:
        return len(self._loaded(dataset_key).layout.shards)

    def _loaded(self, dataset_key: str) -> _Loaded:
        loaded = self._datasets.get(dataset_key)
        if loaded is None:
            raise DatasetNotLoaded(dataset_key, self.name)
        return loaded

    def _scatter(self, loaded: _Loaded, numbers) -> list[Future]:
        arrays = [loaded.layout.shards[k].encodings(loaded.source) for k in numbers]
        return self.client.scatter(arrays, hash=False, broadcast=False, timeout=self.timeout)

    # -- the blocked join, by key partition ---------------------------------------------------

    def blocked_join(
        self,
        dataset_key: str,
        a: np.ndarray,
        a_keys: BlockingKeys,
        b: np.ndarray,
        b_keys: BlockingKeys,
        threshold: float,
        *,
        partitions: int | None = None,
        in_flight: int | None = None,
        segments: OptionalSegments | None = None,
        lsh: BitSamplingLsh | None = None,
    ) -> DaskBlockedJoin:
        """The blocked join of ``a`` against ``b`` (both given whole, keys including any LSH
        bands) on the cluster, cut into ``partitions`` key partitions (default: one per worker
        thread). Iterate it for each partition's pairs as it finishes, or call
        ``candidate_pairs()`` for ``blocked_candidate_pairs``'s answer. At most ``in_flight``
        partitions (default: two per worker) are on the workers at once. ``dataset_key`` names
        the B side in errors and metrics; nothing is kept on the workers afterwards.

        ``segments`` (a segmented schema's optional segments): the missing-aware blocked join,
        ``missing_aware_match``'s answer; ``a_keys``/``b_keys`` are then the tokens only, and the
        band keys come from ``lsh`` on each masked version at the matcher (None: tokens only)."""
        count = partitions if partitions is not None else max(1, sum(self.client.nthreads().values()))
        return DaskBlockedJoin(
            self.client,
            dataset_key,
            a,
            a_keys,
            b,
            b_keys,
            threshold,
            partitions=count,
            metrics=self.metrics,
            worker_threads=self.worker_threads,
            timeout=self.timeout,
            in_flight=in_flight,
            segments=segments,
            lsh=lsh,
        )

    # -- the join -----------------------------------------------------------------------------

    def candidate_pairs(
        self, query: np.ndarray, dataset_key: str, threshold: float, *, rows: np.ndarray | None = None
    ) -> CandidatePairs:
        """Exactly ``matcher.similarity.candidate_pairs(query, dataset[rows], threshold)``.

        ``rows`` (optional) restricts the dataset to those rows; ``b_index`` then counts
        positions in ``rows``, as if ``dataset[rows]`` had been passed.
        """
        loaded = self._loaded(dataset_key)
        check_encodings(query, f"query against dataset {dataset_key!r}")
        if query.shape[1] != loaded.layout.width:
            raise ValueError(
                f"query encodings are {query.shape[1] * 8} bits but dataset "
                f"{dataset_key!r} holds {loaded.layout.width * 8}-bit encodings"
            )
        threshold = float(threshold)
        if np.isnan(threshold):
            raise ValueError("threshold is NaN; expected a number (pairs need score >= threshold)")
        plan = self._plan(
            loaded, np.ascontiguousarray(query), threshold, row_positions(rows, loaded.layout.records, dataset_key)
        )
        relevant = sorted(plan.subsets)
        answers, failures = self._round(loaded, plan, relevant, threshold)
        if failures:
            fatal = {k: f for k, f in failures.items() if not f.lost}
            if fatal:
                k = min(fatal)
                raise JoinFailed(dataset_key, k, len(loaded.layout.shards), fatal[k].reason)
            self._rescatter(loaded, sorted(failures))
            self.metrics.retries.labels(self.name, dataset_key).inc(len(failures))
            again, failures = self._round(loaded, plan, sorted(failures), threshold)
            answers.update(again)
            if failures:
                k = min(failures)
                raise JoinFailed(dataset_key, k, len(loaded.layout.shards), f"after one retry: {failures[k].reason}")
        return self._gather(dataset_key, loaded, plan, relevant, answers)

    def _plan(self, loaded: _Loaded, query: np.ndarray, threshold: float, positions: np.ndarray | None) -> _Plan:
        subsets, keeps, b_maps = {}, {}, {}
        per_shard = loaded.layout.query_rows(row_popcounts(query), threshold)
        for shard, subset in zip(loaded.layout.shards, per_shard):
            keep, b_map = None, shard.rows
            if positions is not None:
                shard_positions = positions[shard.rows]
                keep = np.flatnonzero(shard_positions >= 0)
                b_map = shard_positions[keep]
            if len(subset) and len(b_map):
                subsets[shard.number], keeps[shard.number], b_maps[shard.number] = subset, keep, b_map
        return _Plan(query, subsets, keeps, b_maps)

    def _round(
        self, loaded: _Loaded, plan: _Plan, numbers: list[int], threshold: float
    ) -> tuple[dict[int, PartitionAnswer], dict[int, _Failure]]:
        """Run partitions ``numbers`` once; answers and failures by partition."""
        answers: dict[int, PartitionAnswer] = {}
        failures: dict[int, _Failure] = {}
        if not numbers:
            return answers, failures
        shards = {k: loaded.shards[k] for k in numbers}
        try:
            holders = self.client.who_has(list(shards.values()))
        except Exception as exc:
            return answers, {k: _Failure(f"the scheduler could not be asked: {exc!r}", True) for k in numbers}
        by_worker: dict[str, list[int]] = {}
        for k, shard in shards.items():
            where = holders.get(shard.key, ())
            if shard.status != "finished" or not where:
                failures[k] = _Failure("its shard was lost with a worker", True)
            else:
                by_worker.setdefault(where[0], []).append(k)
        tasks: dict[int, Future] = {}
        trace_context = carrier()  # each task's span continues the compare's trace on its worker
        for worker, ks in by_worker.items():
            try:  # the query rows go to the worker that holds the shard
                queries = self.client.scatter(
                    [plan.query[plan.subsets[k]] for k in ks], workers=[worker], hash=False, timeout=self.timeout
                )
            except Exception as exc:
                failures.update({k: _Failure(f"sending query rows to {worker} failed: {exc!r}", True) for k in ks})
                continue
            for k, query in zip(ks, queries):
                tasks[k] = self.client.submit(
                    join_partition,
                    shards[k],
                    query,
                    plan.keeps[k],
                    threshold,
                    self.worker_threads,
                    trace_context,
                    pure=False,
                    key=f"{TASK_PREFIX}{k}-{uuid.uuid4().hex}",
                )
        deadline = time.monotonic() + self.timeout
        for k, task in tasks.items():
            try:  # the future's own client waits (the backend's client need not be the default)
                answers[k] = task.result(timeout=max(deadline - time.monotonic(), 0.001))
            except Exception as exc:
                if not task.done():
                    failures[k] = _Failure(f"no answer within {self.timeout:g} s", False)
                elif isinstance(exc, _LOST):
                    failures[k] = _Failure(describe(exc), True)
                else:  # the kernel refused: running it again would not help
                    failures[k] = _Failure(describe(exc), False)
        self.client.cancel(list(tasks.values()))
        return answers, failures

    def _rescatter(self, loaded: _Loaded, numbers: list[int]) -> None:
        """Scatter shards ``numbers`` again from the dataset's source array."""
        fresh = self._scatter(loaded, numbers)
        with self._lock:
            stale = [loaded.shards[k] for k in numbers]
            for k, future in zip(numbers, fresh):
                loaded.shards[k] = future
        self.client.cancel(stale)

    def _gather(
        self, dataset_key: str, loaded: _Loaded, plan: _Plan, relevant: list[int], answers: dict[int, PartitionAnswer]
    ) -> CandidatePairs:
        partitions = len(loaded.layout.shards)
        missing = sorted(set(relevant) - set(answers))
        if missing:
            raise JoinFailed(dataset_key, missing[0], partitions, "no answer was gathered")
        parts = []
        histogram = self.metrics.partition_seconds.labels(self.name, dataset_key)
        for k in relevant:
            answer = answers[k]
            expected = len(loaded.layout.shards[k].rows)
            if answer.shard_rows != expected:
                raise JoinFailed(
                    dataset_key, k, partitions, f"its worker held {answer.shard_rows} rows, expected {expected}"
                )
            histogram.observe(answer.seconds)
            pairs = answer.pairs
            parts.append(CandidatePairs(pairs.scores, plan.subsets[k][pairs.a_index], plan.b_maps[k][pairs.b_index]))
        return CandidatePairs.concatenate(parts)

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        for key in list(self._datasets):
            self.evict(key)
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DaskJoinBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _client_tls(security: Security | None):
    """The client-side TLS context the settings give (None: no TLS configured)."""
    return (security or Security()).get_connection_args("client")["ssl_context"]
