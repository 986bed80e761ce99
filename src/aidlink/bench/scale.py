"""``aidlink bench scale``: the full gateway-to-matcher path at growing sizes.

Per size N: generates a synthetic population and two independently corrupted
medical-insurance extracts of it (default corruption profile), N rows each, so
nearly every record has a true match (the heaviest case for matching). Then:
normalize + encode + blocking tokens at the node (worker processes, one Encoder
each), upload over real gRPC on loopback to a dev-mode matcher (plaintext), and
CompareDatasets (all pairs at the threshold) with progress events, the matches
arriving in batches (MatchBatch, at most 1 MiB each). The path is the service's own:
every call audited, the agreement's record filter evaluated on every provider record
(the benchmark's filter admits them all), the attributes it returns joined to each
match, the volume ledger updated. Pair
completeness is the share of the exhaustive join's pairs the blocked join finds
(on a sample of A rows above --exhaustive-limit). Memory is the peak resident
set size of this process during each stage (matcher and bench share it; encoding
workers are reported apart), sampled every 50 ms from /proc/self/statm.

Up to --exhaustive-limit records per side, the same encodings are uploaded again
WITHOUT blocking keys and compared exhaustively over gRPC on the matcher's join
backend: always the local one, and with --backend dask also a second matcher whose
join runs on a Dask cluster (a LocalCluster of --dask-workers processes, one thread
each, unless --dask-scheduler names one). Each is run twice (the first Dask run
also loads the shards onto the workers); both must return the same matches. Worker
memory is each Dask worker process's peak resident set size, sampled every 100 ms.
Timings on a shared machine are noisy.

Encoded with ``--schema``: ``v2.1`` (the default schema, ``chinese-person-v2.1.json``: v2 with its
phone and address salted by the birth date), ``v2`` (``chinese-person-v2.json``; for both the
comparison is missing-aware, docs/encoding-v2.md, and the threshold defaults to the calibrated
0.72) or ``v3`` (the earliest default, plain clkhash CLKs; threshold 0.8). Completeness compares
the matcher's pairs with the same join run here, blocked and exhaustive, missing-aware for v2.x.
The exhaustive stage's v2.x join runs in process even with ``--backend dask`` (a missing-aware
pair is scored on masked vectors the exhaustive backend does not hold; docs/encoding-v2.md);
the blocked join on Dask: ``aidlink bench dask --blocked --schema chinese-person-v2.1``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import numpy as np

_SECRET = b"aidlink-bench-scale-linkage-secret"
# The benchmark compares two extracts of ONE population, so most records match: far above the
# volume limits a real agreement states (matcher.policy). Its matchers run under this one only.
BENCH_AGREEMENTS = """
version = "bench"
[[agreement]]
id = "bench.hrss-to-mca"
title = "benchmark only: any share of hrss's records may be revealed to mca"
provider = "hrss"
user = "mca"
catalog_entries = ["hrss.employment"]
purposes = ["policy-delivery-check"]
returns = ["social_insurance", "registered_unemployed", "employment_assistance"]
# Admits every benchmark record (each carries one of these), so the filter is evaluated on the path.
record_filter = [{ social_insurance = ["receiving", "enrolled", "none"] }]
max_share_per_call = 1.0
max_share_per_period = 1.0
valid_from = "2023-01-01"
valid_until = "2099-12-31"
"""
_PIPELINE = None
SCHEMAS = {"v2.1": "chinese-person-v2.1.json", "v2": "chinese-person-v2.json", "v3": "chinese-person-v3.json"}


def _schema(name: str):
    from aidlink.gateway.encoding import LinkageSchema

    return LinkageSchema.shipped(SCHEMAS.get(name, name))  # v2.1 / v2 / v3, or a shipped file name


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "scale", help="gateway-to-matcher path at 10k/100k/1M records per side", description=__doc__
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="records per side (default: 10000 100000 1000000)",
    )
    parser.add_argument(
        "--schema",
        choices=tuple(SCHEMAS),
        default="v2.1",
        help="linkage schema the node encodes with (default: v2.1, the default schema; v2 and v3: the earlier ones)",
    )
    parser.add_argument(
        "--threshold", type=float, help="default: the schema's calibrated threshold (v2.1 and v2 0.72, v3 0.8)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="encoding processes at the node (default: all cores)"
    )
    parser.add_argument(
        "--exhaustive-limit",
        type=int,
        default=100_000,
        help="above this size, completeness is measured on a sample of A rows",
    )
    parser.add_argument("--sample", type=int, default=20_000, help="A rows sampled for completeness")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="join backend of the exhaustive comparison; dask also runs local beside it",
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=2,
        help="worker processes of the LocalCluster started for --backend dask (default: 2)",
    )
    parser.add_argument("--dask-scheduler", help="an existing Dask scheduler instead of a LocalCluster")
    parser.set_defaults(func=run)
    return parser


class _PeakRss:
    """Peak resident set size of this process while a stage runs (sampled)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _PeakRss:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def schema_policy_for(name: str):
    """What the matcher applies to this schema's encodings (calibrated threshold, optional segments)."""
    from aidlink.bench.schema_datasets import policy_of

    return policy_of(_schema(name))


def _init_worker(schema: str) -> None:
    global _PIPELINE
    from aidlink.gateway.pipeline import RecordPipeline

    _PIPELINE = RecordPipeline(_schema(schema), _SECRET, 1, today=lambda: date(2025, 6, 30))


def _encode_rows(rows: list[dict[str, str]]) -> list[tuple[bytes, list[bytes]] | None]:
    from aidlink.gateway.pipeline import RowRefused

    pipeline = _PIPELINE
    assert pipeline is not None, "_init_worker sets the pipeline up in each worker"
    out: list[tuple[bytes, list[bytes]] | None] = []
    for result in pipeline.encode_persons(rows):  # the encoder's fast path, same bytes as encode_person
        if isinstance(result, RowRefused):
            out.append(None)
            continue
        encoding, person = result
        out.append((encoding, pipeline.blocking.tokens(person)))
    return out


_PROVIDER_ATTRIBUTES = ("social_insurance", "registered_unemployed", "employment_assistance")


def _provider_attributes(row: int) -> dict[str, str]:
    return {
        "social_insurance": ("receiving", "enrolled", "none")[row % 3],
        "registered_unemployed": str(row % 2),
        "employment_assistance": str(row // 2 % 2),
    }


def _upload(stub, department: str, dataset: str, entry: str, records, schema: str, with_keys: bool = True) -> None:
    from aidlink.gateway.pipeline import schema_fingerprint
    from aidlink.v1 import common_pb2, matcher_pb2

    info = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint=schema_fingerprint(_schema(schema)))

    # The provider's records carry the attributes the agreement returns, so the attribute join runs.
    names = list(_PROVIDER_ATTRIBUTES) if department == "hrss" else []

    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=dataset, catalog_entry=entry, catalog_version="2023.1", encoding=info, attributes=names
            )
        )
        for start in range(0, len(records), 2000):
            yield matcher_pb2.UploadChunk(
                batch=matcher_pb2.RecordBatch(
                    records=[
                        matcher_pb2.EncodedRecord(
                            ref=f"r{start + i}",
                            encoding=enc,
                            blocking_keys=keys if with_keys else (),
                            attributes=_provider_attributes(start + i) if names else {},
                        )
                        for i, (enc, keys) in enumerate(records[start : start + 2000])
                    ]
                )
            )

    from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER

    summary = stub.UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, department)])
    if summary.accepted != len(records):
        raise RuntimeError(f"{dataset}: matcher accepted {summary.accepted} of {len(records)}")


def _worker_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class _WorkerPeakRss:
    """Peak resident set size of each Dask worker process while a stage runs (sampled)."""

    def __init__(self, client) -> None:
        self.client = client
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _record(self) -> None:
        for worker, rss in self.client.run(_worker_rss).items():
            self.peak[worker] = max(self.peak.get(worker, 0), rss)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._record()

    def __enter__(self) -> _WorkerPeakRss:
        self._record()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._record()


def _compare(stub, tag: str, threshold: float):
    """All pairs of mca/<tag> vs hrss/<tag> over gRPC: (matches, comparisons, progress events)."""
    from aidlink.gateway.match_batches import attribute_rows
    from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
    from aidlink.v1 import common_pb2, matcher_pb2

    matches: list = []
    progress = comparisons = 0
    for event in stub.CompareDatasets(
        matcher_pb2.CompareRequest(
            my_dataset=tag,
            other_dataset=f"hrss/{tag}",
            purpose=common_pb2.POLICY_DELIVERY_CHECK,
            threshold=threshold,
            all_pairs=True,
        ),
        metadata=[(DEV_DEPARTMENT_HEADER, "mca")],
    ):
        kind = event.WhichOneof("event")
        if kind == "match":
            matches.append((event.match.my_ref, event.match.score, tuple(sorted(event.match.attributes.items()))))
        elif kind == "matches":
            b = event.matches
            matches += [(r, s, tuple(sorted(a.items()))) for r, s, a in zip(b.my_refs, b.scores, attribute_rows(b))]
        elif kind == "progress":
            progress += 1
        else:
            comparisons = event.summary.comparisons
    return matches, comparisons, progress


def run_exhaustive(n: int, encoded, args, stubs: dict, client) -> dict:
    """The exhaustive join over gRPC on each matcher's join backend, twice; same matches on all."""
    tag = f"n{n}x"
    row: dict = {"backends": {}}
    reference = None
    for backend, stub in stubs.items():
        _upload(stub, "mca", tag, "mca.low-income", encoded[0], args.schema, with_keys=False)
        _upload(stub, "hrss", tag, "hrss.employment", encoded[1], args.schema, with_keys=False)
        runs = []
        workers = _WorkerPeakRss(client) if backend == "dask" else None
        with _PeakRss() as mem, workers or _Nothing():
            for _ in range(2):
                t = time.perf_counter()
                matches, comparisons, _ = _compare(stub, tag, args.threshold)
                runs.append(time.perf_counter() - t)
        reference = matches if reference is None else reference
        row["backends"][backend] = {
            "first_s": runs[0],
            "again_s": runs[1],
            "matcher_rss": mem.peak,
            "pairs": len(matches),
            "comparisons": comparisons,
            "identical": matches == reference,
            "worker_rss": sorted(workers.peak.values()) if workers else [],
            "shard_bytes_per_worker": (len(encoded[1]) * 128 / max(1, len(workers.peak))) if workers else 0,
        }
    return row


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _wilson_lower(found: int, total: int, z: float = 2.576) -> float:
    """99 % Wilson lower bound of a proportion."""
    if total == 0:
        return 1.0
    p = found / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - margin) / (1 + z * z / total)


def _against_truth(persons: list[list[str]], rows_sampled, exhaustive: dict, blocked: dict) -> dict:
    """The sampled A rows' pairs judged by the generator's truth (which rows are one person):
    how many same-person pairs there are, how many reach the threshold (the exhaustive join) and
    how many the blocked join finds; and of the pairs the blocked join misses, how many are one
    person (a true match lost) rather than two people scoring high by coincidence."""
    b_rows: dict[str, list[int]] = {}
    for j, person in enumerate(persons[1]):
        b_rows.setdefault(person, []).append(j)
    a_persons, b_persons = persons
    true_pairs = sum(len(b_rows.get(a_persons[i], ())) for i in rows_sampled.tolist())
    same = {k for k in exhaustive if a_persons[k[0]] == b_persons[k[1]]}
    missed = [k for k, score in exhaustive.items() if blocked.get(k) != score]
    return {
        "true_pairs": true_pairs,  # same-person pairs among the sampled rows (any score)
        "true_above_threshold": len(same),  # of them, scoring >= the threshold
        "true_found": sum(1 for k in same if blocked.get(k) == exhaustive[k]),
        "missed": len(missed),
        "missed_true": sum(1 for k in missed if k in same),
    }


def run_size(n: int, args, pool, stub) -> dict:
    from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
    from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
    from aidlink.matcher.comparison import DEFAULT_LSH, Blocking, candidate_chunks
    from aidlink.matcher.missing_aware import missing_aware_match
    from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack
    from aidlink.matcher.similarity.blocking import BlockingKeys
    from aidlink.v1 import common_pb2, matcher_pb2

    row: dict[str, Any] = {"size": n}
    t = time.perf_counter()
    with _PeakRss() as mem:
        population = SyntheticPopulation.generate(int(n / 0.95) + 100, seed=args.seed)
        extracts = [department_extract(population, "nhsa", seed=args.seed + k) for k in (1, 2)]
        sides = [extract.rows[:n] for extract in extracts]
        persons = [[extract.truth[r["rec_id"]] for r in rows] for extract, rows in zip(extracts, sides)]
        del population, extracts
    row["generate_s"], row["generate_rss"] = time.perf_counter() - t, mem.peak

    t = time.perf_counter()
    with _PeakRss() as mem:
        encoded = []
        for k, rows in enumerate(sides):
            slices = [rows[i : i + 5000] for i in range(0, len(rows), 5000)]
            results = [r for part in pool.map(_encode_rows, slices) for r in part]
            encoded.append([r for r in results if r is not None])
            persons[k] = [p for p, r in zip(persons[k], results) if r is not None]  # the truth, row for row
        del sides
    row["encode_s"], row["encode_rss"] = time.perf_counter() - t, mem.peak
    row["records"] = [len(e) for e in encoded]

    t = time.perf_counter()
    with _PeakRss() as mem:
        tag = f"n{n}"
        _upload(stub, "mca", tag, "mca.low-income", encoded[0], args.schema)
        _upload(stub, "hrss", tag, "hrss.employment", encoded[1], args.schema)
    row["upload_s"], row["upload_rss"] = time.perf_counter() - t, mem.peak

    t = time.perf_counter()
    with _PeakRss() as mem:
        matches = progress_events = comparisons = messages = 0
        for event in stub.CompareDatasets(
            matcher_pb2.CompareRequest(
                my_dataset=tag,
                other_dataset=f"hrss/{tag}",
                purpose=common_pb2.POLICY_DELIVERY_CHECK,
                threshold=args.threshold,
                all_pairs=True,
            ),
            metadata=[(DEV_DEPARTMENT_HEADER, "mca")],
        ):
            kind = event.WhichOneof("event")
            messages += 1
            if kind == "match":
                matches += 1
            elif kind == "matches":
                matches += len(event.matches.scores)
            elif kind == "progress":
                progress_events += 1
            else:
                comparisons = event.summary.comparisons
    row["match_s"], row["match_rss"] = time.perf_counter() - t, mem.peak
    row.update(matches=matches, comparisons=comparisons, progress_events=progress_events, messages=messages)

    # Completeness: the same blocked join the matcher ran, against the exhaustive join.
    a = np.frombuffer(b"".join(e for e, _ in encoded[0]), np.uint8).reshape(-1, 128)
    b = np.frombuffer(b"".join(e for e, _ in encoded[1]), np.uint8).reshape(-1, 128)
    keys = [BlockingKeys.from_tokens([k for _, k in side]) for side in encoded]
    encoded_copy = encoded if n <= args.exhaustive_limit else None  # for the exhaustive stage
    del encoded
    rows_sampled = np.arange(len(a))
    if len(a) > args.exhaustive_limit:
        rows_sampled = np.sort(np.random.default_rng(args.seed).choice(len(a), args.sample, replace=False))
    segments = schema_policy_for(args.schema).optional_segments
    t = time.perf_counter()
    if segments.ranges:  # v2: scored on the segments both records have, as the matcher does
        exhaustive = missing_aware_match(a[rows_sampled], b, args.threshold, segments, all_pairs=True).pairs
        row["exhaustive_sample_s"] = time.perf_counter() - t
        blocked = missing_aware_match(
            a,
            b,
            args.threshold,
            segments,
            all_pairs=True,
            mine_blocking=keys[0],
            other_blocking=keys[1],
            lsh=DEFAULT_LSH,
        ).pairs
    else:
        a, b = pack(a), pack(b)
        exhaustive = candidate_pairs(a[rows_sampled], b, args.threshold)
        row["exhaustive_sample_s"] = time.perf_counter() - t
        chunks, _ = candidate_chunks(a, b, args.threshold, blocking=Blocking(keys[0], keys[1], DEFAULT_LSH))
        blocked = CandidatePairs.concatenate(list(chunks))
    if len(blocked) != matches:
        raise RuntimeError(f"the matcher returned {matches} pairs but the local blocked join {len(blocked)}")
    blocked_set = dict(zip(zip(blocked.a_index.tolist(), blocked.b_index.tolist()), blocked.scores.tolist()))
    exhaustive_pairs = dict(
        zip(zip(rows_sampled[exhaustive.a_index].tolist(), exhaustive.b_index.tolist()), exhaustive.scores.tolist())
    )
    found = sum(1 for k, s in exhaustive_pairs.items() if blocked_set.get(k) == s)
    sampled = set(rows_sampled.tolist())
    extra = [k for k in blocked_set if k[0] in sampled and k not in exhaustive_pairs]
    if extra:
        raise RuntimeError(f"{len(extra)} blocked pairs are not in the exhaustive join, e.g. {extra[0]}")
    row.update(_against_truth(persons, rows_sampled, exhaustive_pairs, blocked_set))
    row.update(
        exhaustive_pairs=len(exhaustive_pairs),
        found=found,
        sampled_rows=len(rows_sampled),
        completeness=found / max(1, len(exhaustive_pairs)),
        completeness_lower99=_wilson_lower(found, len(exhaustive_pairs)),
    )
    row["encoded"] = encoded_copy
    return row


def _mib(x: int) -> str:
    return f"{x / 2**20:,.0f}"


def _print_exhaustive(n: int, row: dict, args, scheduler: str | None) -> None:
    local = row["backends"]["local"]
    print(
        f"   exhaustive join over gRPC (uploaded without blocking keys; {local['comparisons']:,} "
        f"comparisons, {local['pairs']:,} pairs), first run / again:",
        flush=True,
    )
    for backend, r in row["backends"].items():
        where = "in process" if backend == "local" else f"{len(r['worker_rss'])} workers at {scheduler}"
        line = (
            f"     {backend} backend ({where}): {r['first_s']:.2f}s / {r['again_s']:.2f}s; "
            f"matcher process peak RSS {_mib(r['matcher_rss'])} MiB"
        )
        if backend == "dask":
            line += (
                f"; worker peak RSS MiB {'/'.join(_mib(x) for x in r['worker_rss'])}; "
                f"shards {r['shard_bytes_per_worker'] / 2**20:.1f} MiB per worker; "
                f"same matches as local: {'yes' if r['identical'] else 'NO'}"
            )
        print(line, flush=True)


def _dask_cluster(args, stack):
    """(scheduler address, client): the one named, or a LocalCluster started for the bench."""
    import logging

    from distributed import Client, LocalCluster

    if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask's INFO chatter only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    address = args.dask_scheduler
    if address is None:
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=args.dask_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
        )
        address = cluster.scheduler_address
    client = stack.enter_context(Client(address, set_as_default=False))
    return address, client


def run(args) -> int:
    import contextlib

    from aidlink.matcher.server import MatcherConfig, MatcherServer
    from aidlink.v1 import matcher_pb2_grpc

    if args.dask_workers < 1:
        print("aidlink bench scale: --dask-workers must be at least 1", file=sys.stderr)
        return 2
    if args.threshold is None:
        args.threshold = schema_policy_for(args.schema).calibrated_threshold
    ctx = multiprocessing.get_context("fork")
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    # The encoding workers fork before any gRPC thread (or Dask cluster) exists.
    with (
        ctx.Pool(args.workers, initializer=_init_worker, initargs=(args.schema,)) as pool,
        tempfile.TemporaryDirectory(prefix="aidlink-bench-scale-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        scheduler = client = None
        backends: dict[str, dict[str, Any]] = {"local": {}}
        if args.backend == "dask":
            scheduler, client = _dask_cluster(args, stack)
            # a benchmark's matcher is a development one (plaintext, loopback), and so is its Dask link
            backends["dask"] = {"join_backend": "dask", "dask_scheduler": scheduler, "dask_insecure_dev": True}
        servers, stubs = {}, {}
        agreements = Path(tmp) / "bench-agreements.toml"
        agreements.write_text(BENCH_AGREEMENTS, encoding="utf-8")
        for backend, settings in backends.items():
            server = MatcherServer(
                MatcherConfig(
                    data_dir=Path(tmp) / backend,
                    listen="127.0.0.1:0",
                    insecure_dev=True,
                    audit=True,  # every call audited before it is answered, as in service
                    agreements=agreements,
                    screen_on_upload=False,  # a matching benchmark: no monitoring graph behind its back
                    **settings,
                )
            ).start()
            stack.callback(server.stop, 0)
            channel = grpc.insecure_channel(server.address, options=options)
            stack.callback(channel.close)
            servers[backend], stubs[backend] = server, matcher_pb2_grpc.MatcherStub(channel)
        stub = stubs[args.backend]
        failed = False
        for n in args.sizes:
            r = run_size(n, args, pool, stub)
            path_s = r["encode_s"] + r["upload_s"] + r["match_s"]
            print(
                f"N={n:,} ({args.schema}, threshold {args.threshold}): records {r['records'][0]:,} x {r['records'][1]:,}; "
                f"generate {r['generate_s']:.1f}s; encode (node, {args.workers} proc) {r['encode_s']:.1f}s; "
                f"upload {r['upload_s']:.1f}s; compare over gRPC {r['match_s']:.1f}s; "
                f"path total {path_s:.1f}s",
                flush=True,
            )
            print(
                f"   comparisons {r['comparisons']:,} (exhaustive would be "
                f"{r['records'][0] * r['records'][1]:,}); pairs >= {args.threshold}: {r['matches']:,}; "
                f"progress events {r['progress_events']}; messages {r['messages']:,}",
                flush=True,
            )
            print(
                f"   completeness {r['found']:,}/{r['exhaustive_pairs']:,} = {r['completeness']:.4%} "
                f"(99% lower bound {r['completeness_lower99']:.4%}; {r['sampled_rows']:,} A rows vs all B; "
                f"exhaustive on them {r['exhaustive_sample_s']:.1f}s)",
                flush=True,
            )
            print(
                f"   against the truth (same person), the same rows: {r['true_pairs']:,} same-person pairs; "
                f"{r['true_above_threshold']:,} score >= {args.threshold} (exhaustive recall "
                f"{r['true_above_threshold'] / max(1, r['true_pairs']):.4%}); the blocked join finds {r['true_found']:,} "
                f"(recall {r['true_found'] / max(1, r['true_pairs']):.4%}); of the {r['missed']:,} pairs it misses, "
                f"{r['missed_true']:,} are one person and {r['missed'] - r['missed_true']:,} two people scoring "
                "high by coincidence",
                flush=True,
            )
            print(
                f"   peak RSS MiB: generate {_mib(r['generate_rss'])}, encode {_mib(r['encode_rss'])}, "
                f"upload {_mib(r['upload_rss'])}, compare {_mib(r['match_rss'])}",
                flush=True,
            )
            encoded = r.pop("encoded")
            if encoded is None:
                print(f"   exhaustive join: skipped above --exhaustive-limit {args.exhaustive_limit:,}", flush=True)
                continue
            exhaustive = run_exhaustive(n, encoded, args, stubs, client)
            del encoded
            _print_exhaustive(n, exhaustive, args, scheduler)
            failed |= not all(b["identical"] for b in exhaustive["backends"].values())
    if failed:
        print("aidlink bench scale: the Dask backend's matches differ from the local backend's", file=sys.stderr)
        return 1
    return 0
