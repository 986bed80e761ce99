"""`aidlink catalog list|show|diff|publish`: the versioned data-resource catalog (Art. 5-7).

Reads the matcher's catalog store directly (--data-dir, on the matcher host) or, for
list/show/diff, asks a running matcher over mTLS with a node's certificate (--matcher).
Publishing writes to the store: a published version never changes; a change is a new version.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_DATA_DIR = Path("aidlink-data/matcher")


def register(sub) -> None:
    p = sub.add_parser("catalog", help="the versioned data-resource catalog (Art. 5-7)")
    csub = p.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")
    csub.required = True

    def source(parser) -> None:
        parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the matcher's data directory")
        parser.add_argument("--matcher", help="ask a running matcher at host:port instead (needs --node-dir)")
        parser.add_argument("--node-dir", type=Path, help="node directory with ca.crt, node.crt, node.key")
        parser.add_argument("--matcher-name", help="TLS server name of the matcher if it differs from the host")

    ls = csub.add_parser("list", help="published catalog versions")
    source(ls)
    ls.set_defaults(func=list_versions)

    show = csub.add_parser("show", help="one published version (default: the latest)")
    show.add_argument("version", nargs="?", default="")
    show.add_argument("--entry", help="only this entry")
    show.add_argument("--format", choices=("text", "json"), default="text")
    source(show)
    show.set_defaults(func=show_version)

    df = csub.add_parser("diff", help="what changed between two published versions")
    df.add_argument("old")
    df.add_argument("new")
    source(df)
    df.set_defaults(func=diff_versions)

    pub = csub.add_parser("publish", help="publish a catalog TOML file as a new, immutable version")
    pub.add_argument("file", type=Path)
    pub.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    pub.add_argument("--approved-by", action="append", default=[], required=True,
                     help="department approving the change (repeat; must include mca, Art. 7)")
    pub.add_argument("--note", default="")
    pub.set_defaults(func=publish)


class _Remote:
    """The same reads as CatalogStore, answered by a running matcher's Catalog service."""

    def __init__(self, args) -> None:
        from aidlink.v1 import catalog_pb2_grpc
        from aidlink.gateway.server import GatewayConfig, NodeTls, matcher_channel

        if args.node_dir is None:
            raise ValueError("--matcher needs --node-dir (the node certificate authenticates the call)")
        d = args.node_dir
        self.channel = matcher_channel(GatewayConfig(
            department="", data_dir=d, matcher=args.matcher, secret_key=b"", secret_version=0,
            tls=NodeTls(d / "ca.crt", d / "node.crt", d / "node.key"), matcher_server_name=args.matcher_name))
        self.stub = catalog_pb2_grpc.CatalogStub(self.channel)

    def history(self):
        from aidlink.v1 import catalog_pb2
        from aidlink.matcher.catalog_store import PublishedVersion

        out = []
        for v in self.stub.ListVersions(catalog_pb2.ListCatalogVersionsRequest()).versions:
            when = datetime.fromisoformat(v.published_at.replace("Z", "+00:00")).timestamp()
            out.append(PublishedVersion(v.version, v.seq, when, tuple(v.approved_by), v.note, v.entries))
        return out

    def get(self, version):
        from aidlink.v1 import catalog_pb2
        from aidlink.matcher.catalog_service import catalog_from_message

        return catalog_from_message(self.stub.GetCatalog(catalog_pb2.GetCatalogRequest(version=version or "")))

    def diff(self, old, new):
        from aidlink.matcher.catalog import diff

        return diff(self.get(old), self.get(new))

    def close(self) -> None:
        self.channel.close()


def _open(args):
    from aidlink.matcher.catalog_store import CatalogStore

    if args.matcher:
        return _Remote(args)
    path = args.data_dir / "catalog.sqlite"
    if not path.exists():
        raise ValueError(f"{path} does not exist: no catalog has been published in {args.data_dir} "
                         "(start the matcher once, or aidlink catalog publish)")
    return CatalogStore(path)


def _run(args, what: str, action) -> int:
    import grpc

    from aidlink.matcher.catalog import CatalogError

    try:
        source = _open(args)
    except ValueError as exc:
        print(f"aidlink catalog {what}: {exc}", file=sys.stderr)
        return 2
    try:
        action(source)
        return 0
    except CatalogError as exc:
        print(f"aidlink catalog {what}: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        print(f"aidlink catalog {what}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    finally:
        source.close()


def list_versions(args) -> int:
    def action(source) -> None:
        for p in source.history():
            when = datetime.fromtimestamp(p.published_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            print(f"{p.version}\t#{p.seq}\t{when}\t{p.entries} entries\tapproved by {', '.join(p.approved_by)}"
                  + (f"\t{p.note}" if p.note else ""))
    return _run(args, "list", action)


def show_version(args) -> int:
    from aidlink.matcher.catalog import METADATA, CatalogError

    def action(source) -> None:
        catalog = source.get(args.version or None)
        entries = list(catalog.entries.values())
        if args.entry:
            entries = [catalog.entry(args.entry, catalog.version)]
        if args.format == "json":
            print(json.dumps({"version": catalog.version, "entry": [e.to_dict() for e in entries]},
                             ensure_ascii=False, indent=2))
            return
        print(f"catalog version {catalog.version}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        for e in entries:
            print(f"\n{e.id}  {e.name}")
            print(f"    provider: {e.provider}    sharing: {e.sharing}")
            print(f"    information items: {', '.join(e.attributes)}")
            for key in METADATA:
                if getattr(e, key):
                    print(f"    {key.replace('_', ' ')}: {getattr(e, key)}")
        if not entries:
            raise CatalogError(f"catalog version {catalog.version} has no entries")
    return _run(args, "show", action)


def diff_versions(args) -> int:
    return _run(args, "diff", lambda source: print(source.diff(args.old, args.new).text()))


def publish(args) -> int:
    from aidlink.matcher.catalog import Catalog, CatalogError
    from aidlink.matcher.catalog_store import CatalogStore

    try:
        catalog = Catalog.load(args.file)
    except (CatalogError, OSError) as exc:
        print(f"aidlink catalog publish: {exc}", file=sys.stderr)
        return 2
    store = CatalogStore(args.data_dir / "catalog.sqlite")
    try:
        before = store.versions()
        info = store.publish(catalog, approved_by=args.approved_by, note=args.note)
        if catalog.version in before:
            print(f"catalog version {catalog.version} is already published with this content; nothing changed")
            return 0
        print(f"published catalog version {info.version} (#{info.seq}, {info.entries} entries, "
              f"approved by {', '.join(info.approved_by)})")
        if before:
            print(store.diff(before[-1], info.version).text())
        return 0
    except CatalogError as exc:
        print(f"aidlink catalog publish: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
