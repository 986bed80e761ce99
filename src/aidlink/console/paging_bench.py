"""`aidlink console bench`: page loads of the console's log at a large log (default 1,000,000 entries).

Builds a synthetic SQLite audit log of N entries (ten departments, a mix of methods, purposes and
outcomes; refusals about 2 %), then times the console's own WSGI application answering
``/log`` (first page, filtered first pages, a deep keyset page) with an officer certificate in
the environ, as cheroot passes it after the TLS handshake (TLS itself is not timed). Each
figure is the median of several loads, each including the audited append of the view.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEPARTMENTS = ("mca", "edu", "nhsa", "hrss", "housing", "health", "civil", "tax", "court", "disabled")
METHODS = ("CompareDatasets", "QueryStatus", "UploadDataset", "ListDatasets")
PURPOSES = ("eligibility-check", "dynamic-monitoring", "referral")


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="time the console's log pages on a synthetic log of N entries")
    b.add_argument("--entries", type=int, default=1_000_000)
    b.add_argument("--repeat", type=int, default=5)
    b.add_argument("--work-dir", type=Path, help="where to build the log (default: a temporary directory)")
    b.set_defaults(func=run)


def build_log(path: Path, n: int) -> None:
    from aidlink.audit.entry import AuditEntry
    from aidlink.audit.sqlite_store import SQLiteAuditStore
    from aidlink.audit.store import StoredEntry

    store = SQLiteAuditStore(path)
    batch: list[StoredEntry] = []
    start = 1_767_225_600  # 2026-01-01T00:00:00Z; one entry every 2 seconds
    for seq in range(n):
        refused = seq % 50 == 7
        t = time.gmtime(start + 2 * seq)
        entry = AuditEntry(
            time=time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", t),
            method=f"/aidlink.v1.Matcher/{METHODS[seq % len(METHODS)]}",
            outcome="refused" if refused else "allowed",
            status="PERMISSION_DENIED" if refused else "OK",
            department=DEPARTMENTS[seq % len(DEPARTMENTS)],
            identity=f"aidlink://node/{DEPARTMENTS[seq % len(DEPARTMENTS)]}/province/320000 serial=0x{seq % 997:x}",
            purpose=PURPOSES[seq % len(PURPOSES)],
            agreement=f"art14-{seq % 5 + 1}",
            datasets=(f"{DEPARTMENTS[seq % len(DEPARTMENTS)]}/records",),
            counts={"records": seq % 1000},
            peer="ipv4:10.0.0.1:5000",
        )
        batch.append(StoredEntry.of(seq, entry))
        if len(batch) == 500:
            store.append_batch(batch)
            batch = []
    store.append_batch(batch)
    store.close()


def run(args: argparse.Namespace) -> int:
    from aidlink.audit.log import AuditLog
    from aidlink.audit.reader import AuditReader
    from aidlink.audit.sqlite_store import SQLiteAuditStore
    from aidlink.audit.verifier_key import VerifierKey
    from aidlink.console.app import ConsoleApp, ConsoleContext
    from aidlink.console.officer_auth import OfficerAuthenticator
    from aidlink.keys.audit_key import AuditSigningKey
    from aidlink.keys.authority import CertificateAuthority

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        path = work / "audit.sqlite"
        if not path.exists():
            began = time.perf_counter()
            build_log(path, args.entries)
            print(f"built a log of {args.entries:,} entries in {time.perf_counter() - began:.1f} s", flush=True)
        ca = (
            CertificateAuthority.create(work / "ca")
            if not (work / "ca").exists()
            else CertificateAuthority.load(work / "ca")
        )
        officer = ca.issue_officer("bench")
        crl = ca.crl_pem()
        log = AuditLog(SQLiteAuditStore(path), checkpoint_interval=None)
        key = VerifierKey(AuditSigningKey.generate().public_key(), "aidlink.audit")
        app = ConsoleApp(
            ConsoleContext(AuditReader(log.store), log.append, OfficerAuthenticator(ca.cert_pem, lambda: crl), key)
        ).flask
        client = app.test_client()
        environ = {"SSL_CLIENT_CERT": officer.cert_pem.decode(), "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "1"}
        pages = {
            "first page (newest first)": "/log",
            "first page, oldest first": "/log?sort=oldest",
            "department=edu": "/log?department=edu",
            "department=edu, one day": "/log?department=edu&since=2026-01-05&until=2026-01-06",
            "outcome=refused": "/log?outcome=refused",
            "method=UploadDataset, purpose=referral": "/log?method=UploadDataset&purpose=referral",
            "identity contains serial=0x3e4": "/log?identity=serial%3D0x3e4",
            "deep page (after=500000)": "/log?after=500000",
            "sorted by department (descending)": "/log?order=department",
            "sorted by method, oldest first": "/log?order=method&sort=oldest",
            "sorted by outcome, department=edu": "/log?order=outcome&department=edu",
            "sorted by identity, deep page (after=500000)": "/log?order=identity&after=500000",
            "no entry matches (dataset=absent/x)": "/log?dataset=absent%2Fx",
            "no entry matches, one day": "/log?dataset=absent%2Fx&since=2026-01-05&until=2026-01-06",
        }
        print(f"{'page':45s} {'median ms':>10s} {'rows':>5s}")
        for name, url in pages.items():
            times = []
            rows = 0
            for _ in range(args.repeat):
                began = time.perf_counter()
                response = client.get(url, environ_base=environ)
                times.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200 or b"checkpoint-status" not in response.get_data():
                    print(f"{name}: HTTP {response.status_code}", file=sys.stderr)
                    return 1
                rows = response.get_data().count(b'class="entry-row"')
            print(f"{name:45s} {statistics.median(times):10.1f} {rows:5d}", flush=True)
        log.close()
    return 0
