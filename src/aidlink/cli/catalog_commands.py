"""`aidlink catalog list|show|diff|sign|publish|verify`: the versioned data-resource catalog (Art. 5-7).

Reads the matcher's catalog store directly (--data-dir, or --database-url where the matcher
keeps its state on PostgreSQL; on the matcher host) or, for list/show/diff, asks a running
matcher over mTLS with a node's certificate (--matcher). Publishing writes to the store: a
published version never changes; a change is a new version, signed by mca's node and by each
provider whose entries change (`sign` on each node, `publish --signature` on the matcher host,
which verifies every signature against the custodian CA and CRL before publishing).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATA_DIR = Path("aidlink-data/matcher")


def register(sub) -> None:
    p = sub.add_parser("catalog", help="the versioned data-resource catalog (Art. 5-7)")
    csub = p.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")
    csub.required = True

    def store_location(parser) -> None:
        parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the matcher's data directory")
        parser.add_argument(
            "--database-url",
            default=os.environ.get("AIDLINK_DATABASE_URL"),
            help="the matcher's state database (postgresql://...) instead of catalog.sqlite "
            "in --data-dir (default: $AIDLINK_DATABASE_URL)",
        )

    def source(parser) -> None:
        store_location(parser)
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

    sign = csub.add_parser("sign", help="sign a catalog TOML file with this node's key (for publish --signature)")
    sign.add_argument("file", type=Path)
    sign.add_argument("--node-dir", type=Path, required=True, help="node directory with node.crt and node.key")
    sign.add_argument("--out", type=Path, help="signature file (default: FILE.<department>.sig)")
    sign.set_defaults(func=sign_file)

    pub = csub.add_parser(
        "publish", help="verify the signatures of a catalog TOML file and publish it as a new, immutable version"
    )
    pub.add_argument("file", type=Path)
    source(pub)  # --matcher: publish through the running matcher (it verifies and audits); else its state
    pub.add_argument(
        "--signature",
        action="append",
        default=[],
        type=Path,
        help="a signature file from aidlink catalog sign (repeat: mca and each changed provider)",
    )
    pub.add_argument(
        "--ca-cert",
        type=Path,
        help="the custodian CA certificate the signers' certificates chain to "
        "(not with --matcher: the matcher uses its own)",
    )
    pub.add_argument("--crl", type=Path, help="the custodian's current revocation list (aidlink keys crl)")
    pub.add_argument("--approved-by", action="append", default=[], help=argparse_suppress())
    pub.add_argument("--note", default="")
    pub.set_defaults(func=publish)

    ver = csub.add_parser("verify", help="re-verify a published version's stored signatures against the CA and CRL")
    ver.add_argument("version", nargs="?", default="")
    store_location(ver)
    ver.add_argument("--ca-cert", type=Path, required=True)
    ver.add_argument("--crl", type=Path, required=True)
    ver.set_defaults(func=verify_version)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


class _Remote:
    """The same reads as CatalogStore, answered by a running matcher's Catalog service."""

    def __init__(self, args) -> None:
        from aidlink.gateway.server import GatewayConfig, NodeTls, matcher_channel
        from aidlink.v1 import catalog_pb2_grpc

        if args.node_dir is None:
            raise ValueError("--matcher needs --node-dir (the node certificate authenticates the call)")
        d = args.node_dir
        self.channel = matcher_channel(
            GatewayConfig(
                department="",
                data_dir=d,
                matcher=args.matcher,
                secret_key=b"",
                secret_version=0,
                tls=NodeTls(d / "ca.crt", d / "node.crt", d / "node.key"),
                matcher_server_name=args.matcher_name,
            )
        )
        self.stub = catalog_pb2_grpc.CatalogStub(self.channel)

    def history(self):
        from aidlink.matcher.catalog_store import PublishedVersion
        from aidlink.v1 import catalog_pb2

        out = []
        for v in self.stub.ListVersions(catalog_pb2.ListCatalogVersionsRequest()).versions:
            when = datetime.fromisoformat(v.published_at.replace("Z", "+00:00")).timestamp()
            out.append(PublishedVersion(v.version, v.seq, when, tuple(v.approved_by), v.note, v.entries))
        return out

    def get(self, version):
        from aidlink.matcher.catalog_service import catalog_from_message
        from aidlink.v1 import catalog_pb2

        return catalog_from_message(self.stub.GetCatalog(catalog_pb2.GetCatalogRequest(version=version or "")))

    def diff(self, old, new):
        from aidlink.matcher.catalog import diff

        return diff(self.get(old), self.get(new))

    def close(self) -> None:
        self.channel.close()


def _open(args):
    from aidlink.matcher.catalog_store import CatalogStore

    if getattr(args, "matcher", None):
        return _Remote(args)
    if args.database_url:
        return CatalogStore(args.database_url)  # the matcher's state database: no SQLite file here
    path = args.data_dir / "catalog.sqlite"
    if not path.exists():
        raise ValueError(
            f"{path} does not exist: no catalog has been published in {args.data_dir} "
            "(start the matcher once, or aidlink catalog publish)"
        )
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
            when = datetime.fromtimestamp(p.published_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            print(
                f"{p.version}\t#{p.seq}\t{when}\t{p.entries} entries\tsigned by {', '.join(p.approved_by)}"
                + (f"\t{p.note}" if p.note else "")
            )

    return _run(args, "list", action)


def show_version(args) -> int:
    from aidlink.matcher.catalog import METADATA, CatalogError

    def action(source) -> None:
        catalog = source.get(args.version or None)
        entries = list(catalog.entries.values())
        if args.entry:
            entries = [catalog.entry(args.entry, catalog.version)]
        if args.format == "json":
            print(
                json.dumps(
                    {"version": catalog.version, "entry": [e.to_dict() for e in entries]}, ensure_ascii=False, indent=2
                )
            )
            return
        print(f"catalog version {catalog.version}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        for e in entries:
            print(f"\n{e.id}  {e.name}")
            print(f"    provider: {e.provider}    sharing: {e.sharing}")
            print(f"    information items: {', '.join(e.attributes)}")
            for t in e.attribute_types:
                derived = f"; derived on the node from {t.derived_from} ({t.derived_rule})" if t.derived_rule else ""
                print(f"        {t.name}: {t.allowed()}{derived}")
            for key in METADATA:
                if getattr(e, key):
                    print(f"    {key.replace('_', ' ')}: {getattr(e, key)}")
        if not entries:
            raise CatalogError(f"catalog version {catalog.version} has no entries")

    return _run(args, "show", action)


def diff_versions(args) -> int:
    return _run(args, "diff", lambda source: print(source.diff(args.old, args.new).text()))


def sign_file(args) -> int:
    from aidlink.keys.identity import IdentityError, identity_from_pem
    from aidlink.keys.key_files import KeyFileError, load_private_key, read_file
    from aidlink.matcher.catalog import CatalogError
    from aidlink.matcher.catalog_signing import sign_catalog

    try:
        document = read_file(args.file, "catalog file")
        cert_pem = read_file(args.node_dir / "node.crt", "node certificate")
        identity = identity_from_pem(cert_pem)
        key = load_private_key(
            read_file(args.node_dir / "node.key", "node key"), None, what=str(args.node_dir / "node.key")
        )
        signature = sign_catalog(document, key, cert_pem)
    except (KeyFileError, IdentityError, CatalogError, UnicodeDecodeError) as exc:
        print(f"aidlink catalog sign: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.file.with_name(f"{args.file.name}.{identity.department or identity.kind}.sig")
    out.write_text(signature.to_json(), "utf-8")
    print(
        f"signed catalog version {signature.version} (sha256 {signature.catalog_sha256[:16]}…) as {identity.uri}: {out}"
    )
    return 0


def _policy(args):
    from aidlink.keys.identity import CertificatePolicy
    from aidlink.keys.key_files import read_file

    if args.ca_cert is None or args.crl is None:
        raise ValueError(
            "--ca-cert and --crl are required: every signature is verified against the custodian "
            "CA and its current revocation list"
        )
    return CertificatePolicy(
        read_file(args.ca_cert, "CA certificate"), read_file(args.crl, "revocation list"), kinds={"node"}
    )


def publish(args) -> int:
    from aidlink.keys.key_files import KeyFileError, read_file
    from aidlink.matcher.catalog import CatalogError
    from aidlink.matcher.catalog_signing import CatalogSignature
    from aidlink.matcher.core import CATALOG_PUBLISH_METHOD, MatcherCore, MatcherSettings
    from aidlink.matcher.errors import Refused

    if args.approved_by:
        print(
            "aidlink catalog publish: --approved-by is not accepted: a name typed on the command line proves "
            "no approval. A new catalog version needs signatures by mca's node certificate and by each "
            "provider whose entries change: run aidlink catalog sign FILE --node-dir DIR on each node, then "
            "aidlink catalog publish FILE --signature SIG ... --ca-cert CA --crl CRL",
            file=sys.stderr,
        )
        return 2
    try:
        document = read_file(args.file, "catalog file")
        signatures = [CatalogSignature.from_json(read_file(p, "signature file"), str(p)) for p in args.signature]
        if getattr(args, "matcher", None):  # the running matcher checks them against its own CA and CRL
            return _publish_remote(args, document, args.note)
        policy = _policy(args)
    except (KeyFileError, CatalogError, ValueError) as exc:
        print(f"aidlink catalog publish: {exc}", file=sys.stderr)
        return 2
    # Offline (the matcher stopped, like import-bundle): the core's use case on the matcher's state,
    # the attempt recorded in its audit log as the gRPC interceptor would record it.
    try:
        core = MatcherCore(
            MatcherSettings(data_dir=args.data_dir, database_url=args.database_url, checkpoint_interval=None)
        )
    except (OSError, ValueError, RuntimeError) as exc:
        print(
            f"aidlink catalog publish: cannot open the matcher's state in {args.database_url or args.data_dir}: {exc}",
            file=sys.stderr,
        )
        return 2
    operator = f"{getpass.getuser()}@{socket.gethostname()}"
    digest = f"catalog-sha256:{hashlib.sha256(document).hexdigest()}"
    try:
        before = core.catalog.versions()
        try:
            info = core.publish_catalog(document, signatures, policy, note=args.note)
        except Refused as exc:
            core.audit_offline(
                CATALOG_PUBLISH_METHOD, exc.status, identity=operator, datasets=[digest], detail=str(exc)
            )
            print(f"aidlink catalog publish: {exc} (refused; recorded in the audit log)", file=sys.stderr)
            return 1
        core.audit_offline(
            CATALOG_PUBLISH_METHOD,
            "OK",
            identity=operator,
            datasets=[f"catalog@{info.version}"],
            detail=f"signed by {', '.join(info.approved_by)}",
        )
        _print_published(info, before, core.catalog)
        return 0
    finally:
        core.close()


def _print_published(info, before: list[str], store) -> None:
    """What a publication did (`info`: the published version, from the store or the matcher's reply)."""
    if info.version in before:
        print(f"catalog version {info.version} is already published with this content; nothing changed")
        return
    print(
        f"published catalog version {info.version} (#{info.seq}, {info.entries} entries, "
        f"signed by {', '.join(info.approved_by)})"
    )
    if before:
        print(store.diff(before[-1], info.version).text())


def _publish_remote(args, document: bytes, note: str) -> int:
    """Publish through a running matcher's Catalog service (it checks the signatures against its
    own CA and CRL, and its audit log records the call, refused or not)."""
    import grpc

    from aidlink.keys.key_files import read_file
    from aidlink.v1 import catalog_pb2

    try:
        remote = _Remote(args)
    except ValueError as exc:
        print(f"aidlink catalog publish: {exc}", file=sys.stderr)
        return 2
    try:
        before = [v.version for v in remote.history()]
        reply = remote.stub.PublishCatalog(
            catalog_pb2.PublishCatalogRequest(
                document=document, signatures=[read_file(p, "signature file") for p in args.signature], note=note
            )
        )
        _print_published(reply, before, remote)
    except grpc.RpcError as exc:
        print(
            f"aidlink catalog publish: the matcher at {args.matcher} refused: {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
        return 1
    finally:
        remote.close()
    return 0


def verify_version(args) -> int:
    from aidlink.keys.key_files import KeyFileError

    try:
        policy = _policy(args)
    except (KeyFileError, ValueError) as exc:
        print(f"aidlink catalog verify: {exc}", file=sys.stderr)
        return 2

    def action(store) -> None:
        version = args.version or store.latest_version()
        signers = store.verify(version, policy)
        if not signers:
            print(f"catalog version {version}: the trusted bootstrap (published unsigned at matcher start)")
        for s in signers:
            print(f"catalog version {version}: signed by {s.department} ({s.uri}, serial {s.serial:#x}): valid")

    return _run(args, "verify", action)
