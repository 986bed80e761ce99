"""`aidlink monitoring …` (warnings, referrals, inbox, feedback through a department's
node) and `aidlink gateway download …` (Art. 18: results as CSV or Excel)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from aidlink.cli.downloads import FORMATS, write_table
from aidlink.cli.node_options import add_node_options, open_node_channel
from aidlink.gateway.match_batches import local_matches
from aidlink.matcher.monitoring.rules import LEVELS, TYPES
from aidlink.matcher.monitoring.warnings import STATUSES
from aidlink.matcher.purposes import BY_NAME as PURPOSES
from aidlink.matcher.purposes import purpose_value
from aidlink.v1 import gateway_pb2, gateway_pb2_grpc, monitoring_pb2_grpc
from aidlink.v1 import monitoring_pb2 as pb


# -- tables -------------------------------------------------------------------------------------
def _warning_rows(answer) -> tuple[list[str], list[list]]:
    header = [
        "id",
        "level",
        "type",
        "rule_id",
        "status",
        "assignee",
        "region",
        "departments",
        "household",
        "not_in_register",
        "reason",
        "action",
        "record_ids",
    ]
    return header, [
        [
            w.warning.id,
            w.warning.level,
            w.warning.type,
            w.warning.rule_id,
            w.warning.status,
            w.warning.assignee,
            w.warning.region,
            ";".join(w.warning.departments),
            w.warning.household,
            "yes" if w.warning.not_in_register else "",
            w.warning.reason,
            w.warning.action,
            ";".join(w.record_ids),
        ]
        for w in answer.warnings
    ]


def _inbox_rows(inbox) -> tuple[list[str], list[list]]:
    header = [
        "seq",
        "kind",
        "referral_id",
        "warning_id",
        "level",
        "type",
        "reason",
        "from",
        "state",
        "record_ids",
        "name",
        "id_number",
        "birth_date",
        "sex",
        "phone",
        "address",
    ]
    rows = []
    for e in inbox.entries:
        i, ident = e.item, dict(e.identity)
        rows.append(
            [
                i.seq,
                i.kind,
                i.referral_id,
                i.warning_id,
                i.level,
                i.type,
                i.reason,
                i.from_department,
                e.state,
                ";".join(e.record_ids),
                *(ident.get(k, "") for k in ("name", "id_number", "birth_date", "sex", "phone", "address")),
            ]
        )
    return header, rows


def _feedback_rows(answer) -> tuple[list[str], list[list]]:
    return ["record_id", "status", "category"], [[i.record_id, i.status, i.category] for i in answer.items]


def _compare_rows(events) -> tuple[list[str], list[list]]:
    matches = [m for e in events for m in local_matches(e)]
    names = sorted({k for m in matches for k in m.attributes})
    return (
        ["record_id", "score", *names],
        [[m.record_id, round(m.score, 4), *(m.attributes.get(n, "") for n in names)] for m in matches],
    )


# -- registration -----------------------------------------------------------------------------------
def register(sub) -> None:
    p = sub.add_parser("monitoring", help="risk warnings, referrals and feedback through a department's node")
    msub = p.add_subparsers(dest="monitoring_command", metavar="SUBCOMMAND")
    msub.required = True

    def command(name: str, help_text: str, func):
        c = msub.add_parser(name, help=help_text)
        add_node_options(c)
        c.set_defaults(func=func)
        return c

    command("rebuild", "relink all departments' latest datasets and apply the risk rules", rebuild)
    w = command("warnings", "list warnings (civil affairs)", warnings)
    w.add_argument("--level", action="append", default=[], choices=LEVELS)
    w.add_argument("--type", action="append", default=[], choices=TYPES)
    w.add_argument("--status", action="append", default=[], choices=STATUSES)
    w.add_argument(
        "--region",
        default="",
        help="division code of the person's registered county or city, e.g. 320902 (Tinghu) or 320900 (all of Yancheng)",
    )
    w.add_argument("--output", "-o", type=Path, help="write CSV or XLSX instead of printing")
    c = command("change", "move a warning on: assigned, visited, admitted, closed", change)
    c.add_argument("warning_id", type=int)
    c.add_argument("--status", required=True, choices=STATUSES)
    c.add_argument("--assignee", default="")
    c.add_argument("--note", default="")
    r = command(
        "refer",
        "refer a visited warning to a department (Art. 17); to your own department, at any open "
        "status: ask the holding department for the identity of a person not in your register, to visit",
        refer,
    )
    r.add_argument("warning_id", type=int)
    r.add_argument("--to", required=True, dest="to_department")
    r.add_argument("--note", default="")
    i = command("inbox", "fetch and show this department's referral inbox", inbox)
    i.add_argument("--output", "-o", type=Path)
    d = command("disclose", "answer a disclosure request with the person's fields, or decline", disclose)
    d.add_argument("referral_id", type=int)
    d.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    d.add_argument("--decline", default="", metavar="REASON")
    rp = command("report", "report how a referral received was handled", report)
    rp.add_argument("referral_id", type=int)
    rp.add_argument("--outcome", required=True)
    f = command("feedback", "Art. 14(5): which of my records are assisted or monitored", feedback)
    f.add_argument("--my-dataset", required=True)
    f.add_argument("--purpose", default="policy-delivery-check", choices=sorted(PURPOSES))
    f.add_argument("--output", "-o", type=Path)
    _register_download(sub)


def _register_download(sub) -> None:
    gateway = sub.choices.get("gateway") if hasattr(sub, "choices") else None
    actions = [a for a in (gateway._actions if gateway else []) if isinstance(a, argparse._SubParsersAction)]
    parent = actions[0] if actions else sub
    d = parent.add_parser("download", help="Art. 18: download results as CSV or Excel (XLSX)")
    d.add_argument("what", choices=("compare", "feedback", "warnings", "inbox"))
    add_node_options(d)
    d.add_argument("--output", "-o", type=Path, required=True, help="file.csv or file.xlsx")
    d.add_argument("--format", choices=FORMATS, help="default: from the file suffix")
    d.add_argument("--my-dataset", help="compare, feedback: my dataset")
    d.add_argument("--other", help="compare: <department>/<dataset>")
    d.add_argument("--purpose", choices=sorted(PURPOSES), help="compare, feedback")
    d.set_defaults(func=download)


# -- commands -------------------------------------------------------------------------------------
def _fail(command: str, exc: grpc.RpcError) -> int:
    print(f"aidlink {command}: {exc.code().name}: {exc.details()}", file=sys.stderr)
    return 1


def _stub(channel) -> monitoring_pb2_grpc.MonitoringGatewayStub:
    return monitoring_pb2_grpc.MonitoringGatewayStub(channel)


def rebuild(args) -> int:
    channel = open_node_channel(args, "monitoring rebuild")
    if channel is None:
        return 2
    with channel:
        try:
            s = _stub(channel).RebuildGraph(pb.RebuildGraphRequest())
        except grpc.RpcError as exc:
            return _fail("monitoring rebuild", exc)
    print(
        f"{s.records} records of {len(s.datasets)} datasets -> {s.clusters} clusters "
        f"({s.linked_clusters} linked); {s.raised} new warnings, {s.auto_closed} auto-closed"
    )
    for c in s.open_warnings:
        print(f"  {c.type:22} {c.level:7} {c.count}")
    return 0


def _query(args) -> pb.WarningQuery:
    return pb.WarningQuery(levels=args.level, types=args.type, statuses=args.status, region=args.region, limit=10000)


def warnings(args) -> int:
    channel = open_node_channel(args, "monitoring warnings")
    if channel is None:
        return 2
    with channel:
        try:
            answer = _stub(channel).ListWarnings(_query(args))
        except grpc.RpcError as exc:
            return _fail("monitoring warnings", exc)
    header, rows = _warning_rows(answer)
    if args.output:
        write_table(args.output, header, rows)
        print(f"{len(rows)} warnings -> {args.output}")
    else:
        for row in rows:
            print("  ".join(str(v) for v in row))
    print(answer.notice.text)
    return 0


def change(args) -> int:
    channel = open_node_channel(args, "monitoring change")
    if channel is None:
        return 2
    with channel:
        try:
            w = _stub(channel).ChangeWarning(
                pb.WarningChange(id=args.warning_id, status=args.status, assignee=args.assignee, note=args.note)
            )
        except grpc.RpcError as exc:
            return _fail("monitoring change", exc)
    print(f"warning {w.id} is now {w.status}" + (f" (assignee {w.assignee})" if w.assignee else ""))
    return 0


def refer(args) -> int:
    channel = open_node_channel(args, "monitoring refer")
    if channel is None:
        return 2
    with channel:
        try:
            r = _stub(channel).ReferWarning(
                pb.ReferRequest(warning_id=args.warning_id, to_department=args.to_department, note=args.note)
            )
        except grpc.RpcError as exc:
            return _fail("monitoring refer", exc)
    print(f"referral {r.id} of warning {r.warning_id} to {r.to_department}: {r.status} (agreement {r.agreement})")
    return 0


def inbox(args) -> int:
    channel = open_node_channel(args, "monitoring inbox")
    if channel is None:
        return 2
    with channel:
        try:
            answer = _stub(channel).SyncInbox(pb.SyncInboxRequest())
        except grpc.RpcError as exc:
            return _fail("monitoring inbox", exc)
    header, rows = _inbox_rows(answer)
    if args.output:
        write_table(args.output, header, rows)
        print(f"{len(rows)} inbox entries ({answer.fetched} new) -> {args.output}")
    else:
        for row in rows:
            print("  ".join(str(v) for v in row[:10]))
    return 0


def disclose(args) -> int:
    fields = {}
    for item in args.field:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"aidlink monitoring disclose: --field {item!r} must be NAME=VALUE", file=sys.stderr)
            return 2
        fields[name] = value
    if not fields and not args.decline:
        print("aidlink monitoring disclose: give --field NAME=VALUE ... or --decline REASON", file=sys.stderr)
        return 2
    channel = open_node_channel(args, "monitoring disclose")
    if channel is None:
        return 2
    with channel:
        try:
            r = _stub(channel).AnswerDisclosure(
                pb.DisclosureAnswer(referral_id=args.referral_id, fields=fields, declined_reason=args.decline)
            )
        except grpc.RpcError as exc:
            return _fail("monitoring disclose", exc)
    print(f"referral {r.id}: {r.status}")
    return 0


def report(args) -> int:
    channel = open_node_channel(args, "monitoring report")
    if channel is None:
        return 2
    with channel:
        try:
            r = _stub(channel).ReportReferral(pb.ReferralReport(referral_id=args.referral_id, outcome=args.outcome))
        except grpc.RpcError as exc:
            return _fail("monitoring report", exc)
    print(f"referral {r.id}: {r.status}")
    return 0


def _feedback(channel, my_dataset: str, purpose: str):
    return _stub(channel).GetFeedback(pb.FeedbackRequest(my_dataset=my_dataset, purpose=purpose_value(purpose)))


def feedback(args) -> int:
    channel = open_node_channel(args, "monitoring feedback")
    if channel is None:
        return 2
    with channel:
        try:
            answer = _feedback(channel, args.my_dataset, args.purpose)
        except grpc.RpcError as exc:
            return _fail("monitoring feedback", exc)
    header, rows = _feedback_rows(answer)
    if args.output:
        write_table(args.output, header, rows)
    else:
        for row in rows:
            print("  ".join(str(v) for v in row))
    print(
        f"{len(rows)} of {answer.summary.my_records} records of {answer.summary.my_dataset} are assisted or "
        f"monitored (agreement {answer.summary.agreement})" + (f" -> {args.output}" if args.output else "")
    )
    return 0


def download(args) -> int:
    channel = open_node_channel(args, "gateway download")
    if channel is None:
        return 2
    with channel:
        try:
            if args.what == "compare":
                if not (args.my_dataset and args.other and args.purpose):
                    print(
                        "aidlink gateway download compare: needs --my-dataset, --other and --purpose", file=sys.stderr
                    )
                    return 2
                events = list(
                    gateway_pb2_grpc.GatewayStub(channel).CompareDataset(
                        gateway_pb2.GatewayCompareRequest(
                            my_dataset=args.my_dataset, other_dataset=args.other, purpose=purpose_value(args.purpose)
                        )
                    )
                )
                header, rows = _compare_rows(events)
            elif args.what == "feedback":
                if not args.my_dataset:
                    print("aidlink gateway download feedback: needs --my-dataset", file=sys.stderr)
                    return 2
                header, rows = _feedback_rows(
                    _feedback(channel, args.my_dataset, args.purpose or "policy-delivery-check")
                )
            elif args.what == "warnings":
                header, rows = _warning_rows(_stub(channel).ListWarnings(pb.WarningQuery(limit=10000)))
            else:
                header, rows = _inbox_rows(_stub(channel).SyncInbox(pb.SyncInboxRequest()))
        except grpc.RpcError as exc:
            return _fail(f"gateway download {args.what}", exc)
    write_table(args.output, header, rows, args.format)
    print(f"{len(rows)} rows -> {args.output}")
    return 0
