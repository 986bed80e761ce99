"""`aidlink gateway …`: run a department's node and call it from the department."""

from __future__ import annotations

import csv
import signal
import sys
import threading
from pathlib import Path

import grpc

from aidlink.cli.progress import ProgressBar
from aidlink.cli.settings import add_config_option
from aidlink.gateway.match_batches import local_matches
from aidlink.matcher.purposes import BY_NAME as PURPOSES
from aidlink.matcher.purposes import purpose_value
from aidlink.v1 import gateway_pb2, gateway_pb2_grpc

NODE_FILES = "ca.crt, node.crt, node.key and linkage-secret.sealed"


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
    s.add_argument("--listen", default="127.0.0.1:50061")
    s.add_argument("--schema", type=Path)
    s.add_argument("--metrics-port", type=int)
    s.add_argument("--metrics-address", default="127.0.0.1", help="address /metrics binds (0.0.0.0 in a pod)")
    add_config_option(s)
    s.set_defaults(func=serve, settings_parser=s)

    u = gsub.add_parser("submit", help="submit a CSV extract through a running node")
    u.add_argument("input", type=Path)
    u.add_argument("--gateway", default="127.0.0.1:50061")
    u.add_argument("--dataset", required=True)
    u.add_argument("--catalog-entry", required=True)
    u.add_argument("--catalog-version", default="2023.1")
    u.add_argument("--id-column", default="rec_id")
    u.add_argument("--attribute", action="append", default=[], help="attribute column to send (repeat)")
    u.add_argument("--mapping", type=Path)
    u.add_argument("--allow-unknown-columns", action="store_true")
    u.set_defaults(func=submit)

    c = gsub.add_parser("compare", help="which of my records match another department's dataset")
    c.add_argument("--gateway", default="127.0.0.1:50061")
    c.add_argument("--my-dataset", required=True)
    c.add_argument("--other", required=True, help="<department>/<dataset>")
    c.add_argument("--purpose", required=True, choices=sorted(PURPOSES))
    c.add_argument("--threshold", type=float, default=0.0)
    c.add_argument("--all-pairs", action="store_true")
    c.add_argument("--output", "-o", type=Path, required=True, help="CSV of my record ids")
    c.set_defaults(func=compare)


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
    from aidlink.gateway.server import GatewayConfig, GatewayServer, NodeTls

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
        print(f"aidlink gateway serve: {args.node_dir} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    from aidlink.keys.secret_file import SecretFileError

    try:
        key, version = _open_secret(args.node_dir)
    except SecretFileError as exc:
        print(f"aidlink gateway serve: {exc}", file=sys.stderr)
        return 2
    server = GatewayServer(
        GatewayConfig(
            department=args.department,
            data_dir=args.data_dir or args.node_dir / "state",
            matcher=args.matcher,
            secret_key=key,
            secret_version=version,
            tls=NodeTls(args.node_dir / "ca.crt", args.node_dir / "node.crt", args.node_dir / "node.key"),
            listen=args.listen,
            schema=args.schema,
            metrics_port=args.metrics_port,
            metrics_address=args.metrics_address,
            matcher_server_name=args.matcher_name,
        )
    ).start()
    print(f"gateway {args.department} listening on {server.address}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def submit(args) -> int:
    from aidlink.gateway.client import submit_rows
    from aidlink.gateway.extract import ColumnMapping, ExtractError, read_extract

    try:
        extract = read_extract(
            args.input,
            mapping=ColumnMapping.load(args.mapping) if args.mapping else None,
            id_column=args.id_column,
            attributes=tuple(args.attribute),
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
    with grpc.insecure_channel(args.gateway) as channel:
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
        self._fh = open(self.partial, "w", newline="", encoding="utf-8")  # closed in finish/abandon
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
    summary = None
    try:
        with grpc.insecure_channel(args.gateway) as channel:
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
