"""`aidlink node init`: turn what the custodian issued into a ready node directory."""

from __future__ import annotations

import sys
from pathlib import Path

from aidlink.keys.departments import DEPARTMENTS


def register(sub) -> None:
    p = sub.add_parser("node", help="set up a department's gateway node")
    nsub = p.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    nsub.required = True
    i = nsub.add_parser(
        "init",
        help="check the custodian's files and lay out a node directory for `aidlink gateway serve`",
        description="Checks that --cert is a node certificate of --department from --ca (valid, not revoked "
        "by --crl), that --key is its key and that --secret opens with it; then copies them into NODE_DIR "
        "as ca.crt, node.crt, node.key (0600), crl.pem and linkage-secret.sealed, writes NODE_DIR/gateway.toml "
        "for `aidlink gateway serve --config` and prints the next commands.",
    )
    i.add_argument("--department", required=True, choices=list(DEPARTMENTS), help=", ".join(DEPARTMENTS))
    i.add_argument("--node-dir", type=Path, required=True, help="the node directory to create (0700)")
    i.add_argument(
        "--issued",
        type=Path,
        help="the directory the custodian handed over: ca.crt, DEPT-DIV.crt and .key, *.sealed, crl.pem "
        "(the flags below override single files)",
    )
    i.add_argument("--ca", type=Path, help="the custodian's CA certificate (ca.crt)")
    i.add_argument("--cert", type=Path, help="this node's certificate (keys issue-node: DEPT-DIV.crt)")
    i.add_argument("--key", type=Path, help="its private key (keys issue-node: DEPT-DIV.key)")
    i.add_argument("--secret", type=Path, help="the linkage secret sealed to --cert (keys seal-secret)")
    i.add_argument("--crl", type=Path, help="the custodian's revocation list (keys crl); needed for --listen")
    i.add_argument("--matcher", required=True, help="the matcher's HOST:PORT")
    i.add_argument("--matcher-name", help="TLS server name of the matcher if it differs from the host")
    i.add_argument("--force", action="store_true", help="replace the files of an existing node directory")
    i.set_defaults(func=init)


def init(args) -> int:
    from aidlink.gateway.node_setup import (
        SETTINGS_FILE,
        IssuedFiles,
        NodeSetupError,
        find_issued_files,
        init_node_directory,
    )

    given = dict(ca=args.ca, cert=args.cert, key=args.key, secret=args.secret, crl=args.crl)
    try:
        if args.issued is not None:
            files = find_issued_files(args.issued, **given)
        elif args.ca and args.cert and args.key and args.secret:
            files = IssuedFiles(args.ca, args.cert, args.key, args.secret, args.crl)
        else:
            missing = [f"--{n}" for n in ("ca", "cert", "key", "secret") if given[n] is None]
            raise NodeSetupError(f"give --issued DIR (what the custodian handed over) or {', '.join(missing)}")
        checked = init_node_directory(
            args.department,
            args.node_dir,
            files,
            matcher=args.matcher,
            matcher_name=args.matcher_name,
            force=args.force,
        )
    except (NodeSetupError, OSError) as exc:
        print(f"aidlink node init: {exc}", file=sys.stderr)
        return 2
    identity, d = checked.identity, args.node_dir
    crl_given = files.crl is not None
    print(
        f"node {args.department} ({identity.uri}, serial {identity.serial:#x}, valid until "
        f"{identity.not_after:%Y-%m-%d}) ready in {d}: ca.crt, node.crt, node.key (0600), "
        f"{'crl.pem, ' if crl_given else ''}linkage-secret.sealed (secret version {checked.secret_version}), "
        f"{SETTINGS_FILE}"
    )
    if not crl_given:
        print("  no --crl: copy the custodian's crl.pem into the node directory before serving --listen")
    entries = _catalog_entries(args.department)
    print("next:")
    print(f"  aidlink gateway serve --config {d / SETTINGS_FILE}")
    print(
        f"  aidlink gateway submit EXTRACT.csv --node-dir {d} --dataset NAME --catalog-entry "
        f"{entries[0] if len(entries) == 1 else 'ENTRY'}"
        + (f"   # {args.department}'s entries: {', '.join(entries)}" if len(entries) > 1 else "")
    )
    print(
        f"  aidlink gateway compare --node-dir {d} --my-dataset NAME --other DEPT/DATASET --purpose PURPOSE -o result.csv"
        "   # agreements: aidlink matcher agreements"
    )
    return 0


def _catalog_entries(department: str) -> list[str]:
    """The embedded catalog's entries ``department`` provides (what its uploads name)."""
    from aidlink.matcher.catalog import Catalog

    catalog = Catalog.load()
    return sorted({e.id for e in catalog.entries.values() if e.provider == department})
