"""``aidlink bench dask``: the similarity join on the local and the Dask backend, same data.

Per size N: N x N Bloom-filter-like encodings (1024 bits, 20–35 % set) where half of
B are noisy copies of A rows (bench.kernel's generator). The local backend runs the
kernel in this process on all cores; the Dask backend shards B over the workers of a
LocalCluster (one process per worker, one thread each; or an existing scheduler with
--scheduler) and joins A against it. Both results must be identical. Memory is the
peak resident set size, sampled every 100 ms: of this process for the local run, and
of each worker process (via the scheduler) for the Dask run. JIT warm-up is excluded.
Timings on a shared machine are noisy; at two cores a Dask cluster cannot beat the
in-process kernel — the point is the shape (load, join, memory per worker).

With --blocked --schema chinese-person-v2.1 (the default linkage schema), chinese-person-v2 or -v3,
A and B are instead two department extracts (medical insurance, independently corrupted) of one
synthetic population, N rows each, encoded with that schema at this machine (worker processes)
with its blocking tokens. On v2 and v2.1 both joins are missing-aware (a pair scored on the segments
both records have): in process ``missing_aware_match``, the join the matcher runs without a
backend, against ``blocked_join(..., segments=...)`` on the cluster.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence
from functools import partial
from typing import TextIO

import numpy as np

from aidlink.bench.kernel import make_datasets, make_linked_datasets
from aidlink.bench.schema_datasets import SCHEMAS, make_schema_datasets, missing_aware, schema_policy_of
from aidlink.bench.timing import timed

_BITS = 1024
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # spreads small block numbers over the 64-bit key space
_COMPLETENESS_SAMPLE = 2000  # A rows joined exhaustively to measure the blocked join's pair completeness


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "dask", help="similarity join: local vs Dask backend, time and memory per worker", description=__doc__
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[20_000, 50_000, 100_000],
        help="records per side (default: 20000 50000 100000)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[2],
        help="Dask worker processes to start, one run per count (default: 2)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="default 0.8; with --schema, the schema's calibrated threshold (0.72 for chinese-person-v2.1 and v2)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="shards per dataset (default: twice the workers' threads); with --blocked, key partitions "
        "(default: one per worker thread)",
    )
    parser.add_argument(
        "--scheduler", default=None, help="an existing Dask scheduler address instead of a LocalCluster"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--blocked",
        action="store_true",
        help="the blocked join (tokens + LSH bands): in process vs by key partition on the workers",
    )
    parser.add_argument(
        "--schema",
        choices=SCHEMAS,
        default=None,
        help="with --blocked: encode two synthetic department extracts with this shipped schema "
        "(chinese-person-v2.1, the default schema, and v2 join missing-aware) instead of random vectors",
    )
    parser.add_argument(
        "--partition-costs",
        action="store_true",
        help="no cluster: the blocked join's per-partition costs at --sizes with --partitions key "
        "partitions (the scaling model's inputs)",
    )
    parser.set_defaults(func=run)
    return parser


def _token_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three token keys per record: a unique one (like a resident ID), and blocks of ~10 and
    ~50 records (like birth date + county, name + birth year)."""
    out = np.empty((n, 3), dtype=np.uint64)
    out[:, 0] = rng.integers(1, 2**62, n, dtype=np.int64).astype(np.uint64)
    out[:, 1] = (rng.integers(0, max(n // 10, 1), n) + 1).astype(np.uint64) * _SPREAD
    out[:, 2] = (rng.integers(0, max(n // 50, 1), n) + 10**9).astype(np.uint64) * _SPREAD
    return out


def make_blocked_datasets(n: int, seed: int, planted: float = 0.5):
    """``make_datasets``'s A and B with blocking tokens (``BlockingKeys`` per side): a noisy copy
    keeps its original's tokens, except that one in five loses the unique one."""
    from aidlink.matcher.similarity.blocking import BlockingKeys

    a, b, source = make_linked_datasets(n, _BITS, planted, seed)
    rng = np.random.default_rng(seed)
    a_tokens, b_tokens = _token_keys(rng, n), _token_keys(rng, n)
    copies = np.flatnonzero(source >= 0)
    b_tokens[copies] = a_tokens[source[copies]]
    drop = copies[rng.random(len(copies)) < 0.2]
    b_tokens[drop, 0] = rng.integers(1, 2**62, len(drop), dtype=np.int64).astype(np.uint64)
    return a, b, BlockingKeys(a_tokens), BlockingKeys(b_tokens)


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class _PeakMemory:
    """Peak RSS of this process, or of each Dask worker, while a stage runs (sampled)."""

    def __init__(self, client=None) -> None:
        self.client = client
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self) -> dict[str, int]:
        if self.client is None:
            return {"matcher": _rss()}
        return self.client.run(_rss)

    def _record(self) -> None:
        for name, value in self._read().items():
            self.peak[name] = max(self.peak.get(name, 0), value)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._record()

    def __enter__(self) -> _PeakMemory:
        self._record()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._record()


def _same(x, y) -> bool:
    return (
        np.array_equal(x.a_index, y.a_index)
        and np.array_equal(x.b_index, y.b_index)
        and x.scores.tobytes() == y.scores.tobytes()
    )


def _run_sizes(
    client, workers: int, sizes: Sequence[int], threshold: float, partitions: int | None, seed: int
) -> list[dict]:
    from aidlink.matcher.distributed import DaskJoinBackend, LocalJoinBackend

    rows = []
    with DaskJoinBackend(client, partitions=partitions) as dask, LocalJoinBackend() as local:
        warm_a, warm_b = make_datasets(64, _BITS, 0.5, seed)
        for backend in (dask, local):  # numba's on-disk cache, loaded once per process
            backend.load("warm-up", warm_b)
            backend.candidate_pairs(warm_a, "warm-up", threshold)
            backend.evict("warm-up")
        for n in sizes:
            a, b = make_datasets(n, _BITS, 0.5, seed)
            local.load("b", b)
            with _PeakMemory() as local_mem:
                expected, local_s = timed(partial(local.candidate_pairs, a, "b", threshold))
            local.evict("b")
            _, load_s = timed(partial(dask.load, "b", b))
            with _PeakMemory(client) as worker_mem:
                got, join_s = timed(partial(dask.candidate_pairs, a, "b", threshold))
            rows.append(
                {
                    "size": n,
                    "workers": workers,
                    "partitions": dask.shard_count("b"),
                    "pairs": len(expected),
                    "identical": _same(got, expected),
                    "local_s": local_s,
                    "local_peak_rss": local_mem.peak["matcher"],
                    "dask_load_s": load_s,
                    "dask_join_s": join_s,
                    "worker_peak_rss": sorted(worker_mem.peak.values()),
                    "shard_bytes_per_worker": len(b) * b.shape[1] / max(1, len(worker_mem.peak)),
                }
            )
            dask.evict("b")
    return rows


def _blocked_row(dask, client, workers: int, n: int, threshold: float, partitions: int | None, seed: int, data) -> dict:
    """One size: the in-process blocked join and the Dask one on ``data`` (A, B, their tokens, and
    the optional segments of a segmented schema, None: whole vectors), side by side."""
    import time

    from aidlink.matcher.comparison import DEFAULT_LSH
    from aidlink.matcher.missing_aware import missing_aware_match
    from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack
    from aidlink.matcher.similarity.blocking import BlockedJoin

    a, b, a_tokens, b_tokens, segments = data
    if segments is None:
        (a_keys, b_keys), keys_s = timed(
            lambda: (
                a_tokens.with_keys(DEFAULT_LSH.band_keys(pack(a))),
                b_tokens.with_keys(DEFAULT_LSH.band_keys(pack(b))),
            )
        )
        with _PeakMemory() as local_mem:
            local, local_s = timed(lambda: BlockedJoin(a, a_keys, b, b_keys, threshold))
            expected, kernel_s = timed(local.all)
            local_s += kernel_s
        local_candidates = local.candidates
        join, plan_s = timed(partial(dask.blocked_join, "b", a, a_keys, b, b_keys, threshold, partitions=partitions))
    else:  # missing-aware: the band keys of each masked version are computed in the plan
        keys_s = 0.0
        with _PeakMemory() as local_mem:
            outcome, local_s = timed(
                lambda: missing_aware_match(
                    a,
                    b,
                    threshold,
                    segments,
                    all_pairs=True,
                    mine_blocking=a_tokens,
                    other_blocking=b_tokens,
                    lsh=DEFAULT_LSH,
                )
            )
        expected, local_candidates = outcome.pairs, outcome.comparisons
        join, plan_s = timed(
            partial(
                dask.blocked_join,
                "b",
                a,
                a_tokens,
                b,
                b_tokens,
                threshold,
                partitions=partitions,
                segments=segments,
                lsh=DEFAULT_LSH,
            )
        )
        a_keys = join.a_keys
    parts, first_s = [], None
    with _PeakMemory(client) as worker_mem, _PeakMemory() as matcher_mem:
        started = time.perf_counter()
        for part in join:  # answers as partitions finish
            parts.append(part)
            first_s = first_s if first_s is not None else time.perf_counter() - started
        dask_s = time.perf_counter() - started
    got = CandidatePairs.concatenate(p.pairs for p in parts)
    # Pair completeness of the blocked join: the share of the exhaustive join's pairs it finds,
    # on a sample of A rows (the same for both: their pairs are identical or the run fails).
    sample = np.sort(np.random.default_rng(seed).choice(len(a), min(len(a), _COMPLETENESS_SAMPLE), replace=False))
    if segments is None:
        exhaustive = candidate_pairs(pack(a[sample]), pack(b), threshold)
    else:
        exhaustive = missing_aware_match(a[sample], b, threshold, segments, all_pairs=True).pairs
    blocked = set(zip(got.a_index.tolist(), got.b_index.tolist()))
    found = sum((int(sample[i]), int(j)) in blocked for i, j in zip(exhaustive.a_index, exhaustive.b_index))
    kernel = [p.seconds for p in parts]
    keys = a_keys if isinstance(a_keys, np.ndarray) else a_keys.keys
    return {
        "size": n,
        "records": (len(a), len(b)),
        "workers": workers,
        "partitions": join.stats.partitions,
        "pairs": len(expected),
        "identical": _same(got, expected),
        "completeness": found / max(1, len(exhaustive)),
        "completeness_pairs": (found, len(exhaustive)),
        "keys_per_record": float((keys != np.uint64(0xFFFFFFFFFFFFFFFF)).sum(axis=1).mean()),
        "lsh_keys_s": keys_s,
        "local_s": local_s,
        "local_peak_rss": local_mem.peak["matcher"],
        "local_candidates": local_candidates,
        "plan_s": plan_s,
        "dask_join_s": dask_s,
        "first_partition_s": first_s,
        "partition_kernel_s": (min(kernel), max(kernel), sum(kernel)) if kernel else (0, 0, 0),
        "worker_peak_rss": sorted(worker_mem.peak.values()),
        "matcher_peak_rss": matcher_mem.peak["matcher"],
        "bytes_sent": join.stats.bytes_sent,
        "records_sent": join.stats.records_sent,
        "replication": join.stats.records_sent / (len(a) + len(b)),
        "candidates": join.stats.candidates,
        "retries": join.stats.retries,
    }


def _run_blocked(
    client,
    workers: int,
    sizes: Sequence[int],
    threshold: float,
    partitions: int | None,
    seed: int,
    datasets: dict | None = None,
) -> list[dict]:
    """``datasets``: per size, (A, B, tokens, tokens, optional segments) of a schema's encodings;
    None: the random vectors of ``make_blocked_datasets``."""
    from aidlink.matcher.comparison import DEFAULT_LSH
    from aidlink.matcher.distributed import DaskJoinBackend
    from aidlink.matcher.missing_aware import missing_aware_match
    from aidlink.matcher.schema_policies import V2_OPTIONAL_SEGMENTS
    from aidlink.matcher.similarity import pack
    from aidlink.matcher.similarity.blocking import blocked_candidate_pairs

    with DaskJoinBackend(client) as dask:
        a, b, a_tokens, b_tokens = make_blocked_datasets(200, seed)  # numba's on-disk cache, once per process
        a_keys = a_tokens.with_keys(DEFAULT_LSH.band_keys(pack(a)))
        b_keys = b_tokens.with_keys(DEFAULT_LSH.band_keys(pack(b)))
        blocked_candidate_pairs(a, a_keys, b, b_keys, threshold)
        dask.blocked_join("warm-up", a, a_keys, b, b_keys, threshold, partitions=partitions).candidate_pairs()
        if datasets is not None:  # and the missing-aware steps
            missing_aware_match(
                a, b, threshold, V2_OPTIONAL_SEGMENTS, all_pairs=True, mine_blocking=a_tokens, other_blocking=b_tokens
            )
            dask.blocked_join(
                "warm-up", a, a_tokens, b, b_tokens, threshold, segments=V2_OPTIONAL_SEGMENTS, lsh=DEFAULT_LSH
            ).candidate_pairs()
        rows = []
        for n in sizes:
            data = datasets[n] if datasets is not None else (*make_blocked_datasets(n, seed), None)
            rows.append(_blocked_row(dask, client, workers, n, threshold, partitions, seed, data))
        return rows


def partition_costs(n: int, partitions: int, threshold: float = 0.8, seed: int = 7, out: TextIO = sys.stdout) -> dict:
    """The blocked join's per-partition costs without Dask (the scaling model's inputs): LSH keys
    and the plan at the matcher, then three partitions cut and joined on one thread each."""
    import time

    from aidlink.matcher.comparison import DEFAULT_LSH
    from aidlink.matcher.distributed.key_partitions import plan_partitions
    from aidlink.matcher.similarity import pack
    from aidlink.matcher.similarity.blocking import BlockedJoin, BlockingKeys

    a, b, a_tokens, b_tokens = make_blocked_datasets(n, seed)
    (a_keys, b_keys), lsh_s = timed(
        lambda: (a_tokens.with_keys(DEFAULT_LSH.band_keys(pack(a))), b_tokens.with_keys(DEFAULT_LSH.band_keys(pack(b))))
    )
    plan, plan_s = timed(lambda: plan_partitions(a_keys.keys, b_keys.keys, partitions))
    copies = sum(len(p.a_rows) + len(p.b_rows) for p in plan) / (2 * n)
    print(
        f"N={n} P={partitions}: LSH band keys {lsh_s / (2 * n) * 1e6:.2f} us/record, plan "
        f"{plan_s / (2 * n) * 1e6:.2f} us/record, {copies:.2f} encoding copies per record, "
        f"load average {os.getloadavg()[0]:.1f}",
        file=out,
    )
    measured = []
    for part in plan[:: max(1, len(plan) // 3)][:3]:
        payload, cut_s = timed(partial(part.payload, a, a_keys.keys, b, b_keys.keys, partitions))
        started = time.perf_counter()
        join = BlockedJoin(
            payload[0],
            BlockingKeys.from_ragged(payload[1], payload[2]),
            payload[3],
            BlockingKeys.from_ragged(payload[4], payload[5]),
            threshold,
            threads=1,
        )
        pairs = join.all()
        kernel_s = time.perf_counter() - started
        nbytes = sum(x.nbytes for x in payload)
        measured.append({"rows": (len(part.a_rows), len(part.b_rows)), "bytes": nbytes, "cut_s": cut_s})
        measured[-1].update(kernel_s=kernel_s, candidates=join.candidates, pairs=len(pairs))
        print(
            f"  partition {part.number}: {len(part.a_rows)} x {len(part.b_rows)} rows, "
            f"{int(payload[1].sum()) / max(1, len(part.a_rows)):.2f} keys per A row, {nbytes / (1 << 20):.1f} MiB, "
            f"cut {cut_s:.2f} s, kernel {kernel_s:.2f} s (one thread), {join.candidates} candidates, {len(pairs)} pairs",
            file=out,
        )
    return {"lsh_s": lsh_s, "plan_s": plan_s, "copies": copies, "partitions": measured}


def bench_dask(
    sizes: Sequence[int],
    workers: Sequence[int] | int,
    *,
    threshold: float | None = None,
    partitions: int | None = None,
    scheduler: str | None = None,
    seed: int = 7,
    blocked: bool = False,
    schema: str | None = None,
    out: TextIO | None = None,
) -> list[dict]:
    """Local vs Dask backend per size (and per worker count); one dict per run, printed to ``out``.

    ``blocked``: the blocked join (tokens + LSH bands; in process vs by key partition on Dask)
    instead of the exhaustive one. ``schema`` (blocked only): encodings of that shipped schema
    (``SCHEMAS``) instead of random vectors; a schema with optional segments (v2.1, v2) joins
    missing-aware. ``threshold`` defaults to 0.8, or to the schema's calibrated threshold."""
    from distributed import Client, LocalCluster

    if threshold is None:
        threshold = schema_policy_of(schema).calibrated_threshold if schema is not None else 0.8

    run_sizes = _run_blocked if blocked else _run_sizes
    if schema is not None:
        if not blocked:
            raise ValueError("a schema's encodings are benchmarked on the blocked join only (--blocked)")
        segments = schema_policy_of(schema).optional_segments if missing_aware(schema) else None
        datasets = {n: (*make_schema_datasets(n, schema, seed), segments) for n in sizes}  # before any cluster
        run_sizes = partial(_run_blocked, datasets=datasets)

    counts = [workers] if isinstance(workers, int) else list(workers)
    rows: list[dict] = []
    if scheduler is not None:
        with Client(scheduler, set_as_default=False) as client:
            rows += run_sizes(client, len(client.nthreads()), sizes, threshold, partitions, seed)
    else:
        for count in counts:
            with (
                LocalCluster(
                    n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
                ) as cluster,
                Client(cluster, set_as_default=False) as client,
            ):
                rows += run_sizes(client, count, sizes, threshold, partitions, seed)
    if out is not None:
        if blocked:
            _print_blocked(rows, threshold, out, schema)
        else:
            _print(rows, threshold, out)
    return rows


def _print(rows: list[dict], threshold: float, out: TextIO) -> None:
    mib = 1 << 20
    print(
        f"Dice join, {_BITS}-bit encodings, threshold {threshold}, {os.cpu_count()} cores; "
        f"local = in-process kernel on all cores",
        file=out,
    )
    print(
        f"{'size':>9}{'workers':>8}{'parts':>6}{'pairs':>9}{'local s':>9}{'local MiB':>10}"
        f"{'load s':>8}{'dask s':>8}{'worker peak MiB':>18}{'shard MiB/w':>12}{'same':>6}",
        file=out,
    )
    for r in rows:
        peaks = "/".join(f"{p / mib:.0f}" for p in r["worker_peak_rss"])
        print(
            f"{r['size']:>9}{r['workers']:>8}{r['partitions']:>6}{r['pairs']:>9}{r['local_s']:>9.2f}"
            f"{r['local_peak_rss'] / mib:>10.0f}{r['dask_load_s']:>8.2f}{r['dask_join_s']:>8.2f}"
            f"{peaks:>18}{r['shard_bytes_per_worker'] / mib:>12.1f}{'yes' if r['identical'] else 'NO':>6}",
            file=out,
        )


def _print_blocked(rows: list[dict], threshold: float, out: TextIO, schema: str | None = None) -> None:
    mib = 1 << 20
    segmented = missing_aware(schema)
    if schema is None:
        data = f"3 tokens + 16 LSH bands of 32 bits per record, random {_BITS}-bit encodings"
    else:
        data = f"{schema} encodings and tokens of two synthetic extracts, + 16 LSH bands of 32 bits"
        if segmented:
            data += " (of each masked version), missing-aware"
    print(
        f"Blocked Dice join ({data}), threshold {threshold}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; local = in-process blocked join, dask = by key partition, one thread per worker",
        file=out,
    )
    print(
        f"{'size':>9}{'workers':>8}{'parts':>6}{'pairs':>9}{'complete':>9}{'local s':>9}{'local MiB':>10}"
        f"{'plan s':>8}{'dask s':>8}{'1st s':>7}{'worker peak MiB':>17}{'sent MiB':>10}{'copies':>7}{'same':>6}",
        file=out,
    )
    for r in rows:
        peaks = "/".join(f"{p / mib:.0f}" for p in r["worker_peak_rss"])
        print(
            f"{r['size']:>9}{r['workers']:>8}{r['partitions']:>6}{r['pairs']:>9}{r['completeness']:>9.4f}"
            f"{r['local_s']:>9.2f}{r['local_peak_rss'] / mib:>10.0f}{r['plan_s']:>8.2f}{r['dask_join_s']:>8.2f}"
            f"{r['first_partition_s'] or 0:>7.2f}{peaks:>17}{r['bytes_sent'] / mib:>10.1f}{r['replication']:>7.2f}"
            f"{'yes' if r['identical'] else 'NO':>6}",
            file=out,
        )
    for r in rows:
        low, high, total = r["partition_kernel_s"]
        lsh = f"LSH keys {r['lsh_keys_s']:.2f} s at the matcher"
        if segmented:
            lsh = "each masked version's band keys computed at the matcher in the plan"
        print(
            f"  {r['size']}: {r['keys_per_record']:.1f} keys/record ({lsh}), {r['candidates']:,} candidates over partitions ({r['local_candidates']:,} in process), kernel per partition "
            f"{low:.2f}-{high:.2f} s (sum {total:.2f} s), {r['bytes_sent'] / sum(r['records']):.0f} B sent per "
            f"record, matcher peak {r['matcher_peak_rss'] / mib:.0f} MiB, records {r['records'][0]} x "
            f"{r['records'][1]}, completeness "
            f"{r['completeness_pairs'][0]}/{r['completeness_pairs'][1]} exhaustive pairs of "
            f"{min(r['records'][0], _COMPLETENESS_SAMPLE)} sampled A rows",
            file=out,
        )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if any(n < 1 for n in args.sizes) or any(w < 1 for w in args.workers):
        print("aidlink bench dask: --sizes and --workers must be positive", file=sys.stderr)
        return 2
    if args.schema is not None and not args.blocked:
        print(
            "aidlink bench dask: --schema needs --blocked (a schema's encodings run on the blocked join)",
            file=sys.stderr,
        )
        return 2
    if args.partition_costs:
        if args.partitions is None or args.partitions < 1:
            print("aidlink bench dask: --partition-costs needs --partitions (a positive number)", file=sys.stderr)
            return 2
        for n in args.sizes:
            partition_costs(n, args.partitions, 0.8 if args.threshold is None else args.threshold, args.seed, out)
        return 0
    rows = bench_dask(
        args.sizes,
        args.workers,
        threshold=args.threshold,
        partitions=args.partitions,
        scheduler=args.scheduler,
        seed=args.seed,
        blocked=args.blocked,
        schema=args.schema,
        out=out,
    )
    if not all(r["identical"] for r in rows):
        print("aidlink bench dask: the Dask backend's pairs differ from the local backend's", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m bench.dask``."""
    parser = argparse.ArgumentParser(prog="aidlink bench")
    register(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["dask", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
