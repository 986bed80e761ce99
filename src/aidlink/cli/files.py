"""`aidlink encode` and `aidlink match`: encoding and matching files locally."""

from __future__ import annotations

import base64
import binascii
import csv
import json
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np

from aidlink.cli.progress import ProgressBar

# The record pipeline (normalization, pinyin, encoding) is imported by `encode` only: `match`
# and `--help` start without it.

FORMAT = "aidlink-encodings/1"


class EncodingFileError(ValueError):
    pass


def register(sub) -> None:
    p = sub.add_parser("encode", help="normalize and encode an extract into Bloom-filter encodings")
    p.add_argument(
        "input", type=Path, help="extract with a header row: CSV/TSV (UTF-8, GBK/GB18030, UTF-16 with BOM) or .xlsx"
    )
    p.add_argument("--output", "-o", type=Path, required=True)
    p.add_argument("--schema", type=Path, help="linkage schema (clkhash v3 JSON); default: Chinese person")
    p.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        help="the linkage secret: a sealed secret (with --node-key) or an unprotected custody version file",
    )
    p.add_argument("--node-key", type=Path, help="this node's private key, to open a sealed secret")
    p.add_argument("--node-cert", type=Path, help="this node's certificate (checks the sealed recipient)")
    p.add_argument("--id-column", default="rec_id")
    p.add_argument(
        "--key-scope",
        default="",
        metavar="SCOPE",
        help="encode under keys scoped to an agreement and period, e.g. 'agreement A-17|{quarter}' "
        "({quarter} and {year} become today's); both files of a match need the same scope",
    )
    p.add_argument("--mapping", type=Path, help="column mapping (TOML/JSON: [columns] header = field)")
    p.add_argument("--allow-unknown-columns", action="store_true", help="ignore unmapped columns")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes that normalize and encode (default: 2, or 1 on a one-core machine); output is the same",
    )
    p.set_defaults(func=encode_command)

    m = sub.add_parser("match", help="match two encoding files locally (ours or clkhash JSON)")
    m.add_argument("a", type=Path)
    m.add_argument("b", type=Path)
    m.add_argument(
        "--threshold",
        "-t",
        type=float,
        default=None,
        help="Dice threshold (default: the calibrated threshold of the files' linkage schema)",
    )
    m.add_argument("--output", "-o", type=Path, required=True)
    m.add_argument("--all-pairs", action="store_true", help="every pair at or above the threshold")
    m.set_defaults(func=match_command)


def load_secret(args) -> tuple[bytes, int]:
    """(secret key bytes, secret version) from --secret-file: a sealed secret or a custody version file.

    Raises SecretFileError (one line naming the file and the formats expected) for anything else.
    """
    from aidlink.keys.secret_file import SecretFileError, read_secret_file

    try:
        key_pem = args.node_key.read_bytes() if args.node_key else None
        cert_pem = args.node_cert.read_bytes() if args.node_cert else None
    except OSError as exc:
        raise SecretFileError(f"{exc.filename}: cannot read the node key or certificate: {exc.strerror}") from None
    secret = read_secret_file(args.secret_file, node_key_pem=key_pem, node_cert_pem=cert_pem)
    return secret.key, secret.version


def encode_command(args) -> int:
    from aidlink.gateway.bulk_rows import encode_rows_in_processes
    from aidlink.gateway.encoding import LinkageSchema
    from aidlink.gateway.extract import ColumnMapping, ExtractError, read_extract
    from aidlink.gateway.pipeline import RecordPipeline, RowRefused

    if args.workers < 1:
        print(f"aidlink encode: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        schema = LinkageSchema.load(args.schema) if args.schema else LinkageSchema.default_chinese()
    except (OSError, ValueError) as exc:  # SchemaError is a ValueError naming the file and the key at fault
        reason = f"{exc.filename}: cannot read it: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        print(f"aidlink encode: --schema {reason}", file=sys.stderr)
        return 2
    from aidlink.keys.secret_file import SecretFileError

    try:
        key, version = load_secret(args)
    except SecretFileError as exc:
        print(f"aidlink encode: --secret-file: {exc}", file=sys.stderr)
        return 2
    try:
        mapping = ColumnMapping.load(args.mapping) if args.mapping else None
    except ExtractError as exc:
        print(f"aidlink encode: {exc}", file=sys.stderr)
        return 2
    try:
        extract = read_extract(
            args.input, mapping=mapping, id_column=args.id_column, allow_unknown=args.allow_unknown_columns
        )
    except ExtractError as exc:
        print(f"aidlink encode: {args.input}: {exc}", file=sys.stderr)
        return 2
    from aidlink.gateway.key_scope import KeyScopeError, expand_scope

    try:
        scope = expand_scope(args.key_scope, date.today())
    except KeyScopeError as exc:
        print(f"aidlink encode: {exc}", file=sys.stderr)
        return 2
    pipeline = RecordPipeline(schema, key, version, scope=scope)
    ids, clks, problems = [], [], list(extract.problems)
    encoded = encode_rows_in_processes(pipeline, extract.rows, args.workers)
    for number, row, encoding in zip(extract.row_numbers, extract.rows, encoded):
        if isinstance(encoding, RowRefused):
            problems.extend((number, f"{f}: {r}") for f, r in encoding.problems)
            continue
        ids.append(row[args.id_column])
        clks.append(base64.b64encode(encoding).decode())
    args.output.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "encoding": {
                    "bits": pipeline.parameters.bits,
                    "secret_version": version,
                    "schema_fingerprint": pipeline.parameters.schema_fingerprint,
                },
                "ids": ids,
                "clks": clks,
            }
        )
    )
    for number, reason in sorted(problems):
        print(f"row {number}: {reason}", file=sys.stderr)
    print(
        f"encoded {len(clks)} of {len(extract.rows) + len(extract.problems)} rows "
        f"({extract.encoding}) -> {args.output}; {len(problems)} problem(s)",
        file=sys.stderr,
    )
    return 0 if clks or not extract.rows else 1


def read_encodings(path: Path) -> tuple[list[str], np.ndarray, str | None]:
    """(ids, uint8 array, schema fingerprint) from our format or clkhash's {"clks": [...]}
    (ids = row index; no fingerprint)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncodingFileError(f"{path}: not a readable JSON encoding file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clks"), list):
        raise EncodingFileError(f"{path}: expected a JSON object with a 'clks' list")
    clks = data["clks"]
    ids = data.get("ids") or [str(i) for i in range(len(clks))]
    if len(ids) != len(clks):
        raise EncodingFileError(f"{path}: {len(ids)} ids but {len(clks)} encodings")
    rows, width = [], None
    for i, text in enumerate(clks):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise EncodingFileError(f"{path}: encoding #{i} is not valid base64") from None
        if width is None:
            width = len(raw)
        if len(raw) != width or width == 0 or width % 8:
            raise EncodingFileError(
                f"{path}: encoding #{i} has {len(raw)} bytes; all must have the "
                f"same length, a multiple of 8 (first has {width})"
            )
        rows.append(raw)
    array = (
        np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width or 0)
        if rows
        else np.zeros((0, 8), dtype=np.uint8)
    )
    info = data.get("encoding")
    fingerprint = info.get("schema_fingerprint") if isinstance(info, dict) else None
    return [str(x) for x in ids], array, fingerprint if isinstance(fingerprint, str) and fingerprint else None


def match_command(args) -> int:
    from aidlink.matcher.comparison import compare_encodings
    from aidlink.matcher.datasets import EncodingSpec
    from aidlink.matcher.missing_aware import missing_aware_match
    from aidlink.matcher.schema_policies import schema_policy

    if args.threshold is not None and not 0 < args.threshold <= 1:
        print(f"aidlink match: --threshold {args.threshold} is outside (0, 1]", file=sys.stderr)
        return 2
    try:
        ids_a, a, schema_a = read_encodings(args.a)
        ids_b, b, schema_b = read_encodings(args.b)
    except EncodingFileError as exc:
        print(f"aidlink match: {exc}", file=sys.stderr)
        return 2
    if schema_a and schema_b and schema_a != schema_b:
        from aidlink.gateway.key_scope import split_fingerprint

        (plain_a, scope_a), (plain_b, scope_b) = split_fingerprint(schema_a), split_fingerprint(schema_b)
        if plain_a == plain_b:
            print(
                f"aidlink match: {args.a} was encoded under key scope {scope_a or 'none'}, {args.b} under "
                f"{scope_b or 'none'}; encodings of different scopes are never compared "
                "(re-encode both with the same --key-scope)",
                file=sys.stderr,
            )
            return 2
        print(
            f"aidlink match: {args.a} was encoded under linkage schema {schema_a[:12]}, {args.b} under "
            f"{schema_b[:12]}; encodings of different schemas are never compared (re-encode one side)",
            file=sys.stderr,
        )
        return 2
    if len(a) and len(b) and a.shape[1] != b.shape[1]:
        print(
            f"aidlink match: {args.a} has {a.shape[1] * 8}-bit encodings, {args.b} has {b.shape[1] * 8}-bit",
            file=sys.stderr,
        )
        return 2
    # The schema's policy (calibrated threshold, missing-aware segments) when both files name it.
    policy = schema_policy(EncodingSpec(a.shape[1] * 8, 0, schema_a) if schema_a and schema_a == schema_b else None)
    threshold = args.threshold if args.threshold is not None else policy.calibrated_threshold
    if policy.optional_segments.ranges:
        links = missing_aware_match(a, b, threshold, policy.optional_segments, all_pairs=args.all_pairs).links
    else:
        links = compare_encodings(
            a,
            b,
            threshold,
            all_pairs=args.all_pairs,
            progress=ProgressBar("matching", sys.stderr) if len(a) > 20000 else None,
        )
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a_id", "b_id", "score"])
        for link in links:
            writer.writerow([ids_a[link.mine], ids_b[link.other], repr(link.score)])
    kind = "pairs" if args.all_pairs else "1-to-1 links"
    how = "" if args.threshold is not None else " (the schema's calibrated default)"
    print(f"{len(links)} {kind} at threshold {threshold:g}{how} -> {args.output}", file=sys.stderr)
    return 0
