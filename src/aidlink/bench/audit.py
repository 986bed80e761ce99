"""``aidlink bench audit``: what durable auditing costs.

(a) Audited appends per second with durability on (SQLite WAL, synchronous=FULL),
from 1, 8 and 32 concurrent appending threads: group commit shows as more
appends per second with more threads.
(b) Throughput of audited matcher calls against the same calls with audit off,
measured side by side: two real matcher servers in this process (plaintext dev
mode on loopback), rounds alternating between them, calls from N client threads.
Target: audit costs less than 20 % of query throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.log import AuditLog
from aidlink.audit.sqlite_store import SQLiteAuditStore

DEV_DEPARTMENT_HEADER = "x-aidlink-dev-department"  # matcher.authentication's development header
TARGET_COST = 0.20


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``audit`` command to the ``bench`` subparsers; its handler is ``run``."""
    parser = subparsers.add_parser(
        "audit",
        help="audited appends per second; audited vs unaudited matcher calls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--appends", type=int, default=3000, help="appends per thread count (default 3000)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 8, 32], help="appending thread counts (default: 1 8 32)"
    )
    parser.add_argument("--calls", type=int, default=3000, help="matcher calls per round and server (default 3000)")
    parser.add_argument("--clients", type=int, default=8, help="client threads calling the matcher (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per server (default 5)")
    parser.add_argument(
        "--query",
        choices=("status", "list"),
        default="status",
        help="status: QueryStatus against an uploaded dataset (a real query); "
        "list: ListDatasets, a trivial call, the worst case for audit overhead",
    )
    parser.add_argument(
        "--records", type=int, default=20000, help="records in the dataset the status queries search (default 20000)"
    )
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--skip-matcher", action="store_true")
    parser.set_defaults(func=run)
    return parser


def _entry(i: int) -> AuditEntry:
    return AuditEntry(
        time=utc_now(),
        method="/aidlink.v1.Matcher/QueryStatus",
        outcome="allowed",
        status="OK",
        department="mca",
        identity="bench serial=1",
        purpose="eligibility-check",
        agreement="bench",
        datasets=("mca/bench",),
        counts={"i": i},
    )


def bench_appends(appends: int, threads: int, directory: Path) -> tuple[float, float]:
    """(appends per second, mean entries per group commit) for `appends` from `threads` threads."""
    log = AuditLog(SQLiteAuditStore(directory / f"appends-{threads}.sqlite"), checkpoint_interval=None)
    per_thread = max(1, appends // threads)
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        start.wait()
        for i in range(per_thread):
            log.append(_entry(i))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    batches = log.metrics.registry.get_sample_value("aidlink_audit_commit_batch_entries_count") or 1
    log.close()
    total = per_thread * threads
    return total / elapsed, total / batches


STATUS_BITS = 1024


def _status_dataset(records: int, seed: int = 7):
    """Bloom-filter-like encodings (about 30 % of bits set) for the status-query workload."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bits = rng.random((records, STATUS_BITS)) < 0.3
    return np.packbits(bits, axis=1)


def _upload_status_dataset(address: str, encodings) -> None:
    import grpc

    from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

    info = common_pb2.EncodingInfo(bits=STATUS_BITS, secret_version=1, schema_fingerprint="bench")

    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset="low-income",
                catalog_entry="mca.low-income",
                catalog_version="2023.1",
                encoding=info,
                attributes=["category"],
            )
        )
        for start in range(0, len(encodings), 2000):
            yield matcher_pb2.UploadChunk(
                batch=matcher_pb2.RecordBatch(
                    records=[
                        matcher_pb2.EncodedRecord(
                            ref=str(i), encoding=encodings[i].tobytes(), attributes={"category": "dibao"}
                        )
                        for i in range(start, min(start + 2000, len(encodings)))
                    ]
                )
            )

    with grpc.insecure_channel(address) as channel:
        matcher_pb2_grpc.MatcherStub(channel).UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, "mca")])


def _hammer(address: str, calls: int, clients: int, query: str = "list", encodings=None) -> tuple[float, float]:
    """(calls per second, CPU microseconds of this process per call) of ListDatasets
    or QueryStatus against `address` from `clients` threads."""
    import grpc

    from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

    channels = [grpc.insecure_channel(address) for _ in range(clients)]
    stubs = [matcher_pb2_grpc.MatcherStub(c) for c in channels]
    if query == "status":
        metadata = [(DEV_DEPARTMENT_HEADER, "nhsa")]
        info = common_pb2.EncodingInfo(bits=STATUS_BITS, secret_version=1, schema_fingerprint="bench")
        requests = [
            matcher_pb2.StatusQuery(
                dataset="mca/low-income",
                encoding=encodings[i].tobytes(),
                encoding_info=info,
                purpose=common_pb2.ELIGIBILITY_CHECK,
            )
            for i in range(0, len(encodings), max(1, len(encodings) // 64))
        ]

        def call(stub, i):
            stub.QueryStatus(requests[i % len(requests)], metadata=metadata)
    else:
        metadata = [(DEV_DEPARTMENT_HEADER, "mca")]

        def call(stub, i):
            stub.ListDatasets(matcher_pb2.ListDatasetsRequest(), metadata=metadata)

    for stub in stubs:  # connect and warm up
        call(stub, 0)
    per_client = max(1, calls // clients)
    start = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def client(stub) -> None:
        start.wait()
        try:
            for i in range(per_client):
                call(stub, i)
        except BaseException as exc:  # reported after the round
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(s,)) for s in stubs]
    for t in threads:
        t.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    for c in channels:
        c.close()
    if errors:
        raise RuntimeError(f"{len(errors)} client threads failed, first: {errors[0]!r}")
    done = per_client * clients
    return done / elapsed, cpu / done * 1e6


Rounds = list[tuple[float, float]]


def bench_matcher(
    calls: int, clients: int, rounds: int, directory: Path, query: str = "list", records: int = 20000
) -> tuple[Rounds, Rounds, int]:
    """(calls/s, CPU µs/call) per round with audit on and off, and the audit entries written."""
    from aidlink.matcher.server import MatcherConfig, MatcherServer

    servers = {}
    for audited in (True, False):
        config = MatcherConfig(
            data_dir=directory / ("audited" if audited else "unaudited"),
            listen="127.0.0.1:0",
            insecure_dev=True,
            audit=audited,
            screen_on_upload=False,  # an audit benchmark: no monitoring graph behind its back
        )
        servers[audited] = MatcherServer(config).start()
    encodings = _status_dataset(records) if query == "status" else None
    if encodings is not None:
        for server in servers.values():
            _upload_status_dataset(server.address, encodings)
    results: dict[bool, Rounds] = {True: [], False: []}
    try:
        for r in range(rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for audited in order:
                results[audited].append(_hammer(servers[audited].address, calls, clients, query, encodings))
        audited_log = servers[True].audit_log
        assert audited_log is not None  # the audited server keeps a log
        entries = audited_log.size
    finally:
        for server in servers.values():
            server.stop(grace=1.0)
    return results[True], results[False], entries


def run(args: argparse.Namespace) -> int:
    print(f"aidlink bench audit ({sys.platform}, Python {sys.version.split()[0]})")
    status = 0
    with tempfile.TemporaryDirectory(prefix="aidlink-bench-audit-") as tmp:
        directory = Path(tmp)
        if not args.skip_appends:
            print("\n(a) durable audited appends (group commit; WAL, synchronous=FULL)")
            print(f"{'threads':>8}  {'appends/s':>10}  {'entries/commit':>14}")
            for threads in args.threads:
                rate, per_commit = bench_appends(args.appends, threads, directory)
                print(f"{threads:>8}  {rate:>10.0f}  {per_commit:>14.1f}")
        if not args.skip_matcher:
            what = (
                "ListDatasets (a trivial call: the worst case for audit overhead)"
                if args.query == "list"
                else f"QueryStatus against a {args.records}-record dataset"
            )
            print(
                f"\n(b) matcher {what}, {args.clients} client threads, {args.calls} calls per round, "
                f"{args.rounds} alternating rounds"
            )
            try:
                audited, plain, entries = bench_matcher(
                    args.calls, args.clients, args.rounds, directory, args.query, args.records
                )
            except ImportError as exc:
                print(f"matcher server not importable, part (b) skipped: {exc}")
                return 2
            on, off = (statistics.median(r for r, _ in audited), statistics.median(r for r, _ in plain))
            cpu_on, cpu_off = (statistics.median(c for _, c in audited), statistics.median(c for _, c in plain))
            cost = 1 - on / off
            print(f"{'audit':>6}  {'calls/s (median)':>16}  {'CPU µs/call':>11}  calls/s per round")
            print(f"{'on':>6}  {on:>16.0f}  {cpu_on:>11.0f}  " + " ".join(f"{x:.0f}" for x, _ in audited))
            print(f"{'off':>6}  {off:>16.0f}  {cpu_off:>11.0f}  " + " ".join(f"{x:.0f}" for x, _ in plain))
            print(
                f"audited/unaudited = {on / off:.2f}; audit costs {cost:.1%} of throughput "
                f"(target < {TARGET_COST:.0%}) and {cpu_on / cpu_off - 1:.1%} more CPU per call; "
                f"{entries} audit entries written"
            )
            if cost >= TARGET_COST:
                print("TARGET MISSED")
                status = 1
    return status
