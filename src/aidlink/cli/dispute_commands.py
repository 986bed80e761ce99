"""`aidlink dispute …`: doubtful or wrong data (Art. 20, 23), from a department's node.

Run on the node host with its directory (certificate, key, sealed linkage secret and
state): flag a matched record, read the inbox, and as provider acknowledge, confirm,
reject or correct (re-encoding the corrected row locally).
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    from aidlink.matcher.purposes import BY_NAME as PURPOSES

    p = sub.add_parser("dispute", help="doubtful or wrong data: flag, answer, correct (Art. 20, 23)")
    dsub = p.add_subparsers(dest="dispute_command", metavar="SUBCOMMAND")
    dsub.required = True

    def node(parser) -> None:
        parser.add_argument("--department", required=True)
        parser.add_argument(
            "--node-dir",
            type=Path,
            required=True,
            help="directory with ca.crt, node.crt, node.key, linkage-secret.sealed",
        )
        parser.add_argument("--data-dir", type=Path, help="node state (default: NODE_DIR/state)")
        parser.add_argument("--matcher", required=True, help="matcher host:port")
        parser.add_argument("--matcher-name", help="TLS server name of the matcher if it differs from the host")

    f = dsub.add_parser("flag", help="flag one of my matched records as doubtful")
    node(f)
    f.add_argument("--my-dataset", required=True)
    f.add_argument("--record-id", required=True, help="my own record id")
    f.add_argument("--other", required=True, help="<department>/<dataset> it matched")
    f.add_argument("--purpose", required=True, choices=sorted(PURPOSES), help="purpose the match was received under")
    f.add_argument("--reason", required=True)
    f.set_defaults(func=flag)

    ls = dsub.add_parser("list", help="disputes I flagged or must answer, with states and deadlines")
    node(ls)
    ls.add_argument("--role", choices=("flagged", "provider"), default="")
    ls.add_argument("--open", action="store_true", help="only open ones")
    ls.set_defaults(func=list_disputes)

    ib = dsub.add_parser("inbox", help="new notifications since the last ones handled")
    node(ib)
    ib.add_argument("--after", type=int, help="resume after this notification number")
    ib.add_argument("--wait", type=int, default=0, help="seconds to wait for one (at most 30)")
    ib.set_defaults(func=inbox)

    for name, help_text in (
        ("acknowledge", "received; under verification"),
        ("confirm", "verified: the data is correct as held"),
        ("reject", "reject the flag with a reason"),
    ):
        r = dsub.add_parser(name, help=help_text)
        node(r)
        r.add_argument("dispute_id")
        r.add_argument("--reason", default="", required=name != "acknowledge")
        r.set_defaults(func=respond, action=name)

    c = dsub.add_parser("correct", help="send the corrected record (read from a one-row CSV)")
    node(c)
    c.add_argument("dispute_id")
    c.add_argument("input", type=Path, help="CSV with the corrected row")
    c.add_argument("--attribute", action="append", default=[], help="attribute column to send (repeat)")
    c.add_argument("--reason", default="")
    c.set_defaults(func=correct)


def _desk(args):
    from aidlink.cli.gateway_commands import _open_secret
    from aidlink.gateway.disputes import NodeDisputes
    from aidlink.gateway.server import GatewayConfig, GatewayServer, NodeTls
    from aidlink.v1 import disputes_pb2_grpc

    key, version = _open_secret(args.node_dir)
    d = args.node_dir
    server = GatewayServer(
        GatewayConfig(
            department=args.department,
            data_dir=args.data_dir or d / "state",
            matcher=args.matcher,
            secret_key=key,
            secret_version=version,
            tls=NodeTls(d / "ca.crt", d / "node.crt", d / "node.key"),
            matcher_server_name=args.matcher_name,
        )
    )
    desk = NodeDisputes(
        server.node, disputes_pb2_grpc.DisputesStub(server.channel), server.refs, server.config.data_dir
    )
    return server, desk


def _print(d, record_id: str = "") -> None:
    late = "  OVERDUE" if d.overdue else ""
    mine = f"  my record {record_id}" if record_id else ""
    print(
        f"{d.id}  {d.state:<9} due {d.due}{late}  {d.flagged_by} -> {d.provider}  "
        f"{d.provider_dataset} v{d.provider_version}{mine}"
    )
    print(
        f"    reason: {d.reason}"
        + (f"\n    answer: {d.answer}" if d.answer else "")
        + (f"\n    corrected in v{d.corrected_version}" if d.corrected_version else "")
    )


def _run(args, action) -> int:
    import grpc

    from aidlink.gateway.disputes import UnknownRecord

    server, desk = _desk(args)
    try:
        action(desk)
        return 0
    except grpc.RpcError as exc:
        print(f"aidlink dispute {args.dispute_command}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except (UnknownRecord, ValueError) as exc:
        print(f"aidlink dispute {args.dispute_command}: {exc}", file=sys.stderr)
        return 1
    finally:
        server.channel.close()
        server.refs.close()


def flag(args) -> int:
    from aidlink.matcher.purposes import purpose_value

    return _run(
        args,
        lambda desk: _print(
            desk.flag(args.my_dataset, args.record_id, args.other, purpose_value(args.purpose), args.reason),
            args.record_id,
        ),
    )


def list_disputes(args) -> int:
    def action(desk) -> None:
        for d in desk.list(role=args.role, open_only=args.open):
            _print(d, desk.record_id(d))

    return _run(args, action)


def inbox(args) -> int:
    def action(desk) -> None:
        for e in desk.inbox(after=args.after, wait_seconds=args.wait):
            print(f"[{e.seq}] {e.kind}")
            _print(e.dispute, e.record_id)

    return _run(args, action)


def respond(args) -> int:
    return _run(args, lambda desk: _print(getattr(desk, args.action)(args.dispute_id, args.reason)))


def correct(args) -> int:
    from aidlink.gateway.extract import read_extract

    def action(desk) -> None:
        extract = read_extract(args.input, attributes=tuple(args.attribute))
        if len(extract.rows) != 1:
            raise ValueError(f"{args.input}: expected exactly one corrected row, found {len(extract.rows)}")
        _print(desk.correct(args.dispute_id, extract.rows[0], args.attribute, args.reason))

    return _run(args, action)
