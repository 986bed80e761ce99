"""``aidlink audit …``: the officer's tools over the matcher's audit log (DIR/audit.sqlite).

Opens the store read-only; never writes or signs. Times without an offset are
read in --tz-offset (default +08:00, China Standard Time).
Exit codes: 0 success, 1 something does not verify, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aidlink.audit.bundle import BundleError, export_bundle, verify_bundle
from aidlink.audit.checkpoint import CheckpointError, open_checkpoint
from aidlink.audit.entry import OUTCOMES
from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.note import NoteError
from aidlink.audit.officer_text import escape_for_officer, escape_lines
from aidlink.audit.open_store import open_audit_store
from aidlink.audit.query import LOCAL_OFFSET, EntryFilter, entry_time, parse_time, stored_time
from aidlink.audit.reader import AuditReader, ProofRequestError
from aidlink.audit.report import AuditReport, ReportOptions, build_report
from aidlink.audit.sqlite_store import SQLiteAuditStore
from aidlink.audit.store import AuditStoreError, SQLAuditStore, StoredEntry
from aidlink.audit.verifier_key import VerifierKeyError, read_verifier_key
from aidlink.audit.verify import verify_log
from aidlink.witness.client import WitnessClient, WitnessClientError, WitnessEndpoint
from aidlink.witness.cosignature import WitnessVerifier, read_witness_key

AUDIT_DB = "audit.sqlite"
OK, FAILED, ERROR = 0, 1, 2


class CommandError(Exception):
    """The command cannot run as asked; the message says why."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command group to the top-level ``aidlink`` parser."""
    group = subparsers.add_parser("audit", help="security officers' tools: query, verify, prove, export, report")
    commands = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help=f"the matcher's data directory (the log is DIR/{AUDIT_DB})")
    common.add_argument(
        "--database-url",
        default=os.environ.get("AIDLINK_DATABASE_URL"),
        help="the matcher's database instead (postgresql://…; default $AIDLINK_DATABASE_URL)",
    )
    common.add_argument(
        "--tz-offset",
        type=_offset,
        default=LOCAL_OFFSET,
        metavar="+HH:MM",
        help="time zone for times given or shown without an offset (default +08:00)",
    )

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[common], help=help, description=help)
        parser.set_defaults(func=_reporting(name, func))
        return parser

    tail = command("tail", _tail, "show the newest entries (and follow new ones)")
    tail.add_argument("-n", type=int, default=20, help="entries to show (default 20)")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing entries as they arrive")
    tail.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    _format(tail)

    query = command("query", _query, "entries matching filters")
    _filters(query)
    query.add_argument("--limit", type=int, help="at most this many entries")
    query.add_argument("--newest-first", action="store_true")
    _format(query)

    verify = command(
        "verify", _verify, "recompute the tree from the entries, check every checkpoint; name the first bad entry"
    )
    verify.add_argument(
        "--key",
        action="append",
        default=[],
        help="audit public key (verifier key string or file, or PEM file); repeatable",
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a signed checkpoint kept from an earlier review; repeatable",
    )
    verify.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's verifier key (or a file with it): the log must match the largest checkpoint "
        "it cosigned; repeatable",
    )
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL",
        help="fetch the latest checkpoint a witness cosigned for this log (GET URL/checkpoint/<origin>); repeatable",
    )
    verify.add_argument(
        "--cosigned",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a cosigned checkpoint kept by the officer (from a witness or an earlier review); repeatable",
    )
    verify.add_argument("--witness-ca", type=Path, help="CA certificate of https:// witnesses")
    verify.add_argument("--origin", help="the log's origin, to fetch from --witness (default: its checkpoints')")

    checkpoint = command("checkpoint", _checkpoint, "print the newest signed checkpoint")
    checkpoint.add_argument("--key", help="check its signature with this audit public key first")

    prove = command("prove", _prove, "inclusion proof of an entry, or consistency proof between two sizes (JSON)")
    prove.add_argument("--entry", type=int, metavar="SEQ", help="entry to prove included")
    prove.add_argument("--size", type=int, help="tree size for --entry (default: newest checkpoint's)")
    prove.add_argument("--from-size", type=int, help="older tree size for a consistency proof")
    prove.add_argument("--to-size", type=int, help="newer tree size (default: newest checkpoint's)")

    export = command("export", _export, "write a self-contained bundle: entries, proofs, signed checkpoint, key")
    export.add_argument("--out", type=Path, required=True, help="bundle file to write (JSON)")
    export.add_argument("--key", required=True, help="audit public key, written into the bundle")
    _filters(export)

    vb = command("verify-bundle", _verify_bundle, "check a bundle offline with only the audit public key")
    vb.add_argument("bundle", type=Path)
    vb.add_argument("--key", required=True, help="audit public key (verifier key string or file, or PEM file)")

    report = command("report", _report, "per-department counts by purpose and outcome, and anomalies")
    report.add_argument("--since", required=True, help="period start (ISO 8601)")
    report.add_argument("--until", required=True, help="period end, exclusive (ISO 8601)")
    report.add_argument(
        "--baseline-days",
        type=float,
        default=28.0,
        help="days before --since that show a department's usual activity (default 28)",
    )
    report.add_argument(
        "--quiet-hours", default="22-6", metavar="START-END", help="local hours when calls are unusual (default 22-6)"
    )
    report.add_argument("--format", choices=("table", "json"), default="table")


# -- argument helpers ------------------------------------------------------------------------


def _offset(text: str) -> timezone:
    try:
        moment = datetime.fromisoformat(f"2000-01-01T00:00{text}")
    except ValueError:
        raise argparse.ArgumentTypeError(f"time zone offset {text!r} must look like +08:00") from None
    offset = moment.utcoffset()
    if offset is None:
        raise argparse.ArgumentTypeError(f"time zone offset {text!r} must look like +08:00")
    return timezone(offset)


def _format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--department")
    parser.add_argument("--identity", help="any part of the caller's certificate identity")
    parser.add_argument("--method", help="gRPC method, e.g. CompareDatasets")
    parser.add_argument("--purpose", help="e.g. eligibility-check")
    parser.add_argument("--agreement")
    parser.add_argument("--dataset")
    parser.add_argument("--outcome", choices=OUTCOMES)
    parser.add_argument("--since", help="inclusive (ISO 8601)")
    parser.add_argument("--until", help="exclusive (ISO 8601)")
    parser.add_argument("--from-seq", type=int)
    parser.add_argument("--to-seq", type=int, help="inclusive")


def _entry_filter(args: argparse.Namespace) -> EntryFilter:
    def when(text: str | None) -> str | None:
        return stored_time(parse_time(text, args.tz_offset)) if text else None

    return EntryFilter(
        department=args.department,
        identity=args.identity,
        method=args.method,
        purpose=args.purpose,
        agreement=args.agreement,
        dataset=args.dataset,
        outcome=args.outcome,
        since=when(args.since),
        until=when(args.until),
        from_seq=args.from_seq,
        to_seq=args.to_seq,
    )


def _store(args: argparse.Namespace) -> SQLAuditStore:
    """The log to read, read-only: the matcher's database if named, else its data directory."""
    if args.database_url:
        return open_audit_store(args.database_url, read_only=True)
    if args.data_dir is None:
        raise CommandError("--data-dir (or --database-url) is required")
    return SQLiteAuditStore(args.data_dir / AUDIT_DB, read_only=True)


def _reporting(name: str, func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (CommandError, AuditStoreError, VerifierKeyError, ProofRequestError, ValueError, OSError) as exc:
            print(f"aidlink audit {name}: error: {escape_for_officer(str(exc))}", file=sys.stderr)
            return ERROR

    return run


# -- output ------------------------------------------------------------------------------------

COLUMNS = ("SEQ", "TIME", "DEPARTMENT", "IDENTITY", "METHOD", "PURPOSE", "OUTCOME", "STATUS", "DATASETS", "DETAIL")


def _cells(row: StoredEntry, tz: timezone) -> tuple[str, ...]:
    e = row.entry
    shown = entry_time(e.time).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    detail = e.detail if len(e.detail) <= 60 else e.detail[:57] + "..."
    return (
        str(row.seq),
        shown,
        e.department or "-",
        e.identity or "-",
        e.method.rsplit("/", 1)[-1],
        e.purpose or "-",
        e.outcome,
        e.status,
        ",".join(e.datasets) or "-",
        detail or "",
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns of text for an officer; every cell escaped (officer_text), so none can break a line."""
    rows = [[escape_for_officer(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _print_entries(rows: Sequence[StoredEntry], args: argparse.Namespace, header: bool = True) -> None:
    if args.format == "jsonl":
        for row in rows:
            print(escape_for_officer(row.body.decode("utf-8")))
    elif rows or header:
        text = _table(COLUMNS, [_cells(r, args.tz_offset) for r in rows])
        print(text if header else text.split("\n", 1)[1])
    sys.stdout.flush()


# -- commands ----------------------------------------------------------------------------------


def _tail(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = list(reversed(store.query(limit=max(args.n, 0), newest_first=True))) if args.n else []
        _print_entries(rows, args)
        if args.follow:
            next_seq = rows[-1].seq + 1 if rows else store.count()
            try:
                while True:
                    time.sleep(args.interval)
                    new = store.query(EntryFilter(from_seq=next_seq))
                    if new:
                        _print_entries(new, args, header=False)
                        next_seq = new[-1].seq + 1
            except KeyboardInterrupt:
                pass
    finally:
        store.close()
    return OK


def _query(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = store.query(_entry_filter(args), limit=args.limit, newest_first=args.newest_first)
    finally:
        store.close()
    _print_entries(rows, args)
    if args.format == "table":
        print(f"({len(rows)} entries)")
    return OK


def _fetch_cosigned(args: argparse.Namespace, store: SQLAuditStore, witnesses: list[WitnessVerifier]) -> list[bytes]:
    """The latest cosigned checkpoint from each --witness URL (any witness key may vouch for it)."""
    if not args.witness:
        return []
    if not witnesses:
        raise CommandError("--witness needs --witness-key (the witness's verifier key) to check what it answers")
    origin = args.origin
    if origin is None:
        latest = store.latest_checkpoint()
        if latest is None:
            raise CommandError("the log has no checkpoint to take its origin from: give --origin")
        origin = unverified_checkpoint(latest.note).origin
    fetched = []
    for url in args.witness:
        client = WitnessClient(WitnessEndpoint(url, witnesses[0], args.witness_ca))
        try:
            fetched.append(client.latest(origin))
        except WitnessClientError as exc:
            raise CommandError(f"could not fetch the cosigned checkpoint of {origin} from {url}: {exc}") from None
    return fetched


def _verify(args: argparse.Namespace) -> int:
    keys = [read_verifier_key(k) for k in args.key]
    kept = [path.read_bytes() for path in args.checkpoint]
    witnesses = [read_witness_key(k) for k in args.witness_key]
    store = _store(args)
    try:
        cosigned = [path.read_bytes() for path in args.cosigned] + _fetch_cosigned(args, store, witnesses)
        result = verify_log(store, keys, kept, witnesses, cosigned)
    finally:
        store.close()
    signed = (
        "signatures checked with " + ", ".join(k.source for k in keys)
        if keys
        else "signatures NOT checked: pass --key to check them"
    )
    print(
        f"audit log {store.location}: {result.entries} entries, {result.checkpoints} checkpoints "
        f"({signed}); {len(kept)} kept checkpoints"
    )
    for name, size in sorted(result.witnessed.items()):
        print(f"witness {escape_for_officer(name)}: cosigned a checkpoint of size {size}, which the log matches")
    if result.unwitnessed is not None:
        first_new, last_new = result.unwitnessed
        print(
            f"entries {first_new}..{last_new} are newer than the last checkpoint cosigned by every witness "
            f"(size {result.witnessed_size}): not yet witnessed"
        )
    if result.ok:
        print(
            "OK: every entry and checkpoint verifies" + (" and matches the witnessed checkpoints" if witnesses else "")
        )
        return OK
    first = result.first_bad_seq
    print(
        "FAILED: "
        + (f"first entry that does not verify: {first}" if first is not None else "the checkpoints do not verify")
    )
    for problem in result.problems:
        print(f"  - {escape_for_officer(problem.message)}")
    return FAILED


def _checkpoint(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        latest = store.latest_checkpoint()
        cosignatures = [c.line for c in store.cosignatures() if latest is not None and c.checkpoint == latest.number]
    finally:
        store.close()
    if latest is None:
        print("the audit log has not issued a checkpoint yet", file=sys.stderr)
        return FAILED
    if args.key:
        key = read_verifier_key(args.key)
        try:
            open_checkpoint(latest.note, key.for_origin(unverified_checkpoint(latest.note).origin))
        except (NoteError, CheckpointError) as exc:
            print(f"checkpoint #{latest.number} does not verify with {key.source}: {exc}", file=sys.stderr)
            return FAILED
    # The witnesses' cosignatures stored beside it are further signature lines of the same note.
    sys.stdout.write(latest.note.decode("utf-8") + "".join(line + "\n" for line in cosignatures))
    return OK


def _prove(args: argparse.Namespace) -> int:
    if (args.entry is None) == (args.from_size is None):
        raise CommandError("give either --entry SEQ [--size N] or --from-size A [--to-size B]")
    store = _store(args)
    try:
        reader = AuditReader(store)
        proof = (
            reader.inclusion(args.entry, args.size)
            if args.entry is not None
            else reader.consistency(args.from_size, args.to_size)
        )
    finally:
        store.close()
    print(json.dumps(proof.to_json(), indent=2, ensure_ascii=False))
    return OK


def _export(args: argparse.Namespace) -> int:
    key = read_verifier_key(args.key)
    store = _store(args)
    try:
        result = export_bundle(AuditReader(store), _entry_filter(args), key)
    except BundleError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    args.out.write_text(json.dumps(result.bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {result.entries} entries with inclusion proofs to {args.out}")
    if result.left_out_after_checkpoint:
        print(
            f"note: {result.left_out_after_checkpoint} matching entries are newer than the newest "
            "checkpoint and were left out; export again after the next checkpoint"
        )
    return OK


def _verify_bundle(args: argparse.Namespace) -> int:
    key = read_verifier_key(args.key)
    try:
        check = verify_bundle(args.bundle.read_bytes(), key)
    except BundleError as exc:
        print(f"FAILED: {args.bundle}: {exc}")
        return FAILED
    span = f"entries {check.first_seq}..{check.last_seq}" if check.entries else "no entries"
    print(
        f"OK: {check.entries} entries ({span}) are in log {check.origin} at size {check.tree_size}, "
        f"checkpoint signed by key {check.key_name}"
    )
    if check.bundle_key_differs:
        print("note: the bundle names a different verifier key; it was checked against the key you gave")
    return OK


def _report(args: argparse.Namespace) -> int:
    try:
        start, end = (int(h) for h in args.quiet_hours.split("-"))
    except ValueError:
        raise CommandError(f"--quiet-hours {args.quiet_hours!r} must look like 22-6") from None
    options = ReportOptions(tz=args.tz_offset, quiet_hours=(start, end), baseline_days=args.baseline_days)
    since, until = parse_time(args.since, args.tz_offset), parse_time(args.until, args.tz_offset)
    store = _store(args)
    try:
        report = build_report(store, since, until, options)
    finally:
        store.close()
    if args.format == "json":
        print(escape_lines(json.dumps(report_json(report), indent=2, ensure_ascii=False)))
    else:
        print(report_text(report))
    return OK


def report_json(report: AuditReport) -> dict[str, object]:
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "total": report.total,
        "counts": [vars(r) for r in report.rows],
        "anomalies": [vars(a) for a in report.anomalies],
        "volume_refusals": [vars(v) for v in report.volume_refusals],
    }


def report_text(report: AuditReport) -> str:
    tz = report.options.tz
    lines = [
        f"Audit report {report.since.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{report.until.astimezone(tz):%Y-%m-%d %H:%M} (UTC{_offset_text(tz)}): {report.total} calls",
        "",
    ]
    table: dict[tuple[str, str], dict[str, int]] = {}
    for r in report.rows:
        table.setdefault((r.department or "-", r.purpose or "-"), {})[r.outcome] = r.count
    rows = [
        (d, p, *(str(c.get(outcome, 0)) for outcome in OUTCOMES), str(sum(c.values())))
        for (d, p), c in sorted(table.items())
    ]
    lines.append(_table(("DEPARTMENT", "PURPOSE", *(o.upper() for o in OUTCOMES), "TOTAL"), rows))
    lines.append("")
    if report.anomalies:
        lines.append(f"Anomalies ({len(report.anomalies)}):")
        lines.append(
            _table(("KIND", "DEPARTMENT", "WHAT"), [(a.kind, a.department or "-", a.message) for a in report.anomalies])
        )
    else:
        lines.append("No anomalies.")
    lines.append("")
    if report.volume_refusals:
        lines.append(f"Departments refused by a volume limit ({len(report.volume_refusals)}):")
        lines.append(
            _table(
                ("DEPARTMENT", "AGREEMENT", "REFUSED", "LATEST"),
                [(v.department or "-", v.agreement or "-", str(v.count), v.last) for v in report.volume_refusals],
            )
        )
    else:
        lines.append("No volume-limit refusals.")
    return "\n".join(lines)


def _offset_text(tz: timezone) -> str:
    delta = tz.utcoffset(None) or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
