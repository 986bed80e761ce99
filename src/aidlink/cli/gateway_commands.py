"""`aidlink gateway …`: run a department's node and call it from the department."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import grpc

from aidlink.cli.downloads import COMMENT
from aidlink.cli.node_options import add_node_options, open_node_channel
from aidlink.cli.progress import ProgressBar
from aidlink.cli.settings import add_config_option, message_bytes, seconds
from aidlink.cli.termination import TerminationSignal
from aidlink.deadlines import DEFAULT_STREAM_DEADLINE_S, DEFAULT_UNARY_DEADLINE_S
from aidlink.gateway.match_batches import local_matches
from aidlink.matcher.purposes import BY_NAME as PURPOSES
from aidlink.matcher.purposes import purpose_value
from aidlink.result_notice import NOTICE
from aidlink.transport import DEFAULT_MAX_MESSAGE_BYTES
from aidlink.v1 import gateway_pb2, gateway_pb2_grpc

NODE_FILES = "ca.crt, node.crt, node.key, crl.pem (for --listen) and linkage-secret.sealed"


def register(sub) -> None:
    p = sub.add_parser("gateway", help="a department's gateway node")
    gsub = p.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    gsub.required = True

    s = gsub.add_parser("serve", help="run the node's gRPC API for the department's systems")
    s.add_argument("--department", help="this node's department code (required)")
    s.add_argument("--node-dir", type=Path, help=f"directory with {NODE_FILES} (required)")
    s.add_argument("--matcher", help="matcher host:port (required)")
    s.add_argument("--matcher-name", help="TLS server name of the matcher if it differs from the host")
    s.add_argument("--data-dir", type=Path, help="node state (default: NODE_DIR/state)")
    s.add_argument(
        "--socket", type=Path, help="the node API's Unix socket (default: DATA_DIR/node.sock; 0600 in a 0700 directory)"
    )
    s.add_argument(
        "--listen",
        help="also serve the API on HOST:PORT, mTLS only: the department's systems present certificates from "
        "aidlink keys issue-system (NODE_DIR/crl.pem is checked)",
    )
    s.add_argument("--crl", type=Path, help="revocation list for system certificates (default: NODE_DIR/crl.pem)")
    s.add_argument(
        "--insecure-dev",
        action="store_true",
        help="serve --listen in PLAINTEXT without authentication (development on loopback only; warns)",
    )
    s.add_argument("--health-port", type=int, help="serve plaintext grpc.health.v1 only on PORT, for probes")
    s.add_argument("--health-address", default="127.0.0.1", help="address the health port binds (0.0.0.0 in a pod)")
    s.add_argument("--schema", type=Path)
    s.add_argument(
        "--key-scope",
        default="",
        metavar="SCOPE",
        help="derive encoding, token and pseudonym keys for one agreement and period, e.g. "
        "'agreement A-17|{quarter}' ({quarter} -> 2026-Q4 and {year}, expanded at start); both sides "
        "of an agreement set the same; the matcher never compares different scopes",
    )
    s.add_argument("--metrics-port", type=int)
    s.add_argument("--metrics-address", default="127.0.0.1", help="address /metrics binds (0.0.0.0 in a pod)")
    s.add_argument(
        "--max-message-bytes",
        type=message_bytes,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="largest gRPC message, to the matcher and on the node's API (default: %(default)s, 16 MiB)",
    )
    s.add_argument(
        "--matcher-deadline",
        type=seconds,
        default=DEFAULT_UNARY_DEADLINE_S,
        metavar="SECONDS",
        help="deadline of a unary call to the matcher, at most what the node's caller has left (default: %(default)s)",
    )
    s.add_argument(
        "--matcher-stream-deadline",
        type=seconds,
        default=DEFAULT_STREAM_DEADLINE_S,
        metavar="SECONDS",
        help="deadline of an upload or a comparison at the matcher, at most what the node's caller has left "
        "(default: %(default)s)",
    )
    s.add_argument(
        "--subscribe",
        action="store_true",
        help="keep a subscription to the matcher open: referrals (and, for civil affairs, new warnings) are "
        "pushed to this node's inbox as they arise",
    )
    s.add_argument(
        "--relay-folder",
        type=Path,
        metavar="DIR",
        help="relay every pushed referral and warning to the department's system as a JSON file in DIR "
        "(implies --subscribe)",
    )
    add_config_option(s)
    s.set_defaults(func=serve, settings_parser=s)

    u = gsub.add_parser("submit", help="submit an extract (CSV, TSV or .xlsx) through a running node")
    u.add_argument("input", type=Path, help="CSV/TSV (UTF-8, GBK/GB18030, UTF-16 with BOM) or .xlsx, header row first")
    add_node_options(u)
    u.add_argument("--dataset", required=True)
    u.add_argument("--catalog-entry", required=True)
    u.add_argument("--catalog-version", default="2023.1")
    u.add_argument("--id-column", default="rec_id")
    u.add_argument(
        "--attribute",
        action="append",
        default=[],
        help="attribute column to send (repeat; default: every attribute the catalog entry lists, "
        "derived ones computed on the node)",
    )
    u.add_argument("--mapping", type=Path, help="column mapping (TOML/JSON: [columns] header = field)")
    u.add_argument("--allow-unknown-columns", action="store_true", help="ignore unmapped columns")
    u.set_defaults(func=submit)

    c = gsub.add_parser("compare", help="which of my records match another department's dataset")
    add_node_options(c)
    c.add_argument("--my-dataset", required=True)
    c.add_argument("--other", required=True, help="<department>/<dataset>")
    c.add_argument("--purpose", required=True, choices=sorted(PURPOSES))
    c.add_argument("--threshold", type=float, default=0.0)
    c.add_argument("--all-pairs", action="store_true")
    c.add_argument("--output", "-o", type=Path, required=True, help="CSV of my record ids")
    c.set_defaults(func=compare)

    k = gsub.add_parser("calls", help="the node's own log of calls to its API (who, what, when, answer)")
    k.add_argument("--node-dir", type=Path, required=True, help="the node's directory")
    k.add_argument("--data-dir", type=Path, help="node state (default: NODE_DIR/state)")
    k.add_argument("--after", type=int, default=0, help="only calls after this sequence number")
    k.add_argument("--limit", type=int, default=100, help="the latest N calls (default: %(default)s; 0: all)")
    k.set_defaults(func=calls)


def _open_secret(node_dir: Path) -> tuple[bytes, int]:
    """The node's linkage secret: ``linkage-secret.sealed`` opened with ``node.key``; nothing else is accepted."""
    from aidlink.keys.secret_file import read_secret_file

    secret = read_secret_file(
        node_dir / "linkage-secret.sealed",
        node_key_pem=(node_dir / "node.key").read_bytes(),
        node_cert_pem=(node_dir / "node.crt").read_bytes(),
        sealed_only=True,
    )
    return secret.key, secret.version


def serve(args) -> int:
    from aidlink.cli.matcher_commands import health_listen
    from aidlink.gateway.node_access import SystemTls
    from aidlink.gateway.server import GatewayConfig, GatewayServer, NodeTls
    from aidlink.gateway.state_files import private_directory

    unset = [f"--{n.replace('_', '-')}" for n in ("department", "node_dir", "matcher") if not getattr(args, n)]
    if unset:
        print(
            f"aidlink gateway serve: set {', '.join(unset)} (flags, AIDLINK_* environment or --config)", file=sys.stderr
        )
        return 2
    missing = [
        f for f in ("ca.crt", "node.crt", "node.key", "linkage-secret.sealed") if not (args.node_dir / f).exists()
    ]
    if missing:
        print(
            f"aidlink gateway serve: {args.node_dir} lacks {', '.join(missing)}: lay out the custodian's files "
            "with aidlink node init",
            file=sys.stderr,
        )
        return 2
    from aidlink.gateway.node_setup import NodeSetupError, check_node_directory
    from aidlink.keys.secret_file import SecretFileError

    try:  # the certificate is this department's node certificate and node.key its key, or no start
        check_node_directory(args.node_dir, args.department)
    except NodeSetupError as exc:
        print(f"aidlink gateway serve: {exc}", file=sys.stderr)
        return 2
    try:
        key, version = _open_secret(args.node_dir)
    except SecretFileError as exc:
        print(f"aidlink gateway serve: {exc}", file=sys.stderr)
        return 2
    d = args.node_dir
    system_tls = None
    if args.listen and not args.insecure_dev:
        system_tls = SystemTls(d / "ca.crt", d / "node.crt", d / "node.key", args.crl or d / "crl.pem")
        if not system_tls.crl.exists():
            print(
                f"aidlink gateway serve: WARNING: no revocation list at {system_tls.crl}: calls on {args.listen} are "
                "refused UNAVAILABLE until the custodian's CRL is there (aidlink keys crl)",
                file=sys.stderr,
            )
    try:
        private_directory(d)  # the node directory holds its key: 0700 whatever the umask
        server = GatewayServer(
            GatewayConfig(
                department=args.department,
                data_dir=args.data_dir or d / "state",
                matcher=args.matcher,
                secret_key=key,
                secret_version=version,
                tls=NodeTls(d / "ca.crt", d / "node.crt", d / "node.key"),
                socket=args.socket,
                listen=args.listen,
                system_tls=system_tls,
                insecure_dev=args.insecure_dev,
                health_listen=health_listen(args.listen or "127.0.0.1:0", args.health_address, args.health_port),
                schema=args.schema,
                metrics_port=args.metrics_port,
                metrics_address=args.metrics_address,
                matcher_server_name=args.matcher_name,
                max_message_bytes=args.max_message_bytes,
                matcher_deadline_s=args.matcher_deadline,
                matcher_stream_deadline_s=args.matcher_stream_deadline,
                subscribe=args.subscribe,
                relay_folder=args.relay_folder,
                key_scope=args.key_scope,
            )
        ).start()
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"aidlink gateway serve: {exc}", file=sys.stderr)
        return 2
    where = server.address + (f" and {server.tcp_address}" if server.tcp_address else "")
    termination = TerminationSignal()
    print(f"gateway {args.department} listening on {where}", flush=True)
    termination.wait()
    server.stop()
    return 0


def submit(args) -> int:
    from aidlink.cli.catalog_defaults import entry_attributes
    from aidlink.gateway.client import submit_rows
    from aidlink.gateway.extract import ColumnMapping, ExtractError, read_extract

    try:
        mapping = ColumnMapping.load(args.mapping) if args.mapping else None
    except ExtractError as exc:
        print(f"aidlink gateway submit: {exc}", file=sys.stderr)
        return 2
    try:
        extract = read_extract(
            args.input,
            mapping=mapping,
            id_column=args.id_column,
            attributes=tuple(args.attribute) or entry_attributes(args.catalog_entry, args.catalog_version),
            allow_unknown=args.allow_unknown_columns,
        )
    except ExtractError as exc:
        print(f"aidlink gateway submit: {args.input}: {exc}", file=sys.stderr)
        return 2
    for number, reason in extract.problems:
        print(f"row {number}: {reason}", file=sys.stderr)
    header = gateway_pb2.SubmitHeader(
        dataset=args.dataset,
        catalog_entry=args.catalog_entry,
        catalog_version=args.catalog_version,
        id_column=args.id_column,
        attributes=args.attribute,
    )
    channel = open_node_channel(args, "gateway submit")
    if channel is None:
        return 2
    with channel:
        try:
            summary = submit_rows(gateway_pb2_grpc.GatewayStub(channel), header, extract.rows)
        except grpc.RpcError as exc:
            print(f"aidlink gateway submit: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    for p in summary.problems:
        print(
            f"row {extract.row_numbers[p.row - 1] if 0 < p.row <= len(extract.row_numbers) else p.row}"
            f" ({p.record_id}): {p.field}: {p.reason}{'' if p.kept else ' (row not uploaded)'}",
            file=sys.stderr,
        )
    print(
        f"{summary.dataset} v{summary.version}: {summary.uploaded} of {summary.rows} rows uploaded, "
        f"{summary.problem_count + len(extract.problems)} problem(s)"
    )
    return 0


class _MatchesCsv:
    """Writes matches to ``record_id,score,<attributes>`` CSV as they arrive, into a ``.partial``
    file renamed over the output once the summary came (nothing is left behind on failure).

    Batches name their attribute columns (those the agreement returns), so rows are written
    batch by batch; single-match events (a gateway from before batching) are held and
    written at the end with the attributes they carry, as before."""

    def __init__(self, output: str) -> None:
        self.output = Path(output)
        self.partial = self.output.with_name(self.output.name + ".partial")
        self._fh = open(self.partial, "w", newline="", encoding="utf-8-sig")  # closed in finish/abandon
        self._fh.write(f"{COMMENT}{NOTICE}\r\n")  # the Art. 26 notice opens every download (cli.downloads)
        self._writer = csv.writer(self._fh)
        self._names: list[str] | None = None
        self._single: list[gateway_pb2.LocalMatch] = []

    def _rows(self, matches) -> None:
        names = self._names or []
        self._writer.writerows(
            [m.record_id, f"{m.score:.4f}", *(m.attributes.get(n, "") for n in names)] for m in matches
        )

    def add(self, event: gateway_pb2.GatewayCompareEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "match":
            self._single.append(event.match)
        elif kind == "matches":
            if self._names is None:
                self._names = sorted(column.name for column in event.matches.attributes)
                self._writer.writerow(["record_id", "score", *self._names])
            self._rows(local_matches(event))

    def finish(self) -> None:
        if self._names is None:
            self._names = sorted({k for m in self._single for k in m.attributes})
            self._writer.writerow(["record_id", "score", *self._names])
        self._rows(self._single)
        self._fh.close()
        self.partial.replace(self.output)

    def abandon(self) -> None:
        self._fh.close()
        self.partial.unlink(missing_ok=True)


def compare(args) -> int:
    try:
        out = _MatchesCsv(args.output)
    except OSError as exc:
        print(f"aidlink gateway compare: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    channel = open_node_channel(args, "gateway compare")
    if channel is None:
        out.abandon()
        return 2
    summary = None
    try:
        with channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            bar = ProgressBar("matching", sys.stderr)
            for event in stub.CompareDataset(
                gateway_pb2.GatewayCompareRequest(
                    my_dataset=args.my_dataset,
                    other_dataset=args.other,
                    purpose=purpose_value(args.purpose),
                    threshold=args.threshold,
                    all_pairs=args.all_pairs,
                )
            ):
                kind = event.WhichOneof("event")
                if kind == "progress":
                    bar(event.progress.done, event.progress.total)
                elif kind == "summary":
                    summary = event.summary
                else:
                    out.add(event)
    except grpc.RpcError as exc:
        out.abandon()
        print(f"aidlink gateway compare: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except BaseException:
        out.abandon()
        raise
    if summary is None:
        out.abandon()
        print("aidlink gateway compare: the gateway ended the comparison without a summary", file=sys.stderr)
        return 1
    out.finish()
    print(
        f"{summary.matches} of {summary.my_records} records of {summary.my_dataset} match "
        f"{summary.other_dataset} (agreement {summary.agreement}) -> {args.output}"
    )
    print(summary.notice.text)
    return 0


def calls(args) -> int:
    from aidlink.gateway.call_log import CALL_LOG_FILE, CallLog

    path = (args.data_dir or args.node_dir / "state") / CALL_LOG_FILE
    try:
        log = CallLog(path, read_only=True)
    except FileNotFoundError as exc:
        print(f"aidlink gateway calls: {exc}", file=sys.stderr)
        return 2
    try:
        for call in log.calls(after=args.after, limit=args.limit or None):
            print(call.line())
    finally:
        log.close()
    return 0
