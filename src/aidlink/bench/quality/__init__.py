"""``aidlink bench quality``: linkage quality of aidlink's default schema beside a clkhash-style baseline.

On generated data (``--n`` per side, ``--seed``, ``--overlap``), on two CSV extracts with a truth
file (``--a A.csv --b B.csv --truth T.csv``), or on FEBRL4 (``--febrl4``): precision, recall, F1
and pair completeness across thresholds, greedy 1-to-1 links from the fast Dice kernel, hard
negatives (same name and birth date, twins) counted separately, a table and a PNG plot.
``--hardening`` adds the quality cost of each hardening option. Never a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from aidlink.bench.quality.encodings import (
    baseline_schema,
    encode_records,
    normalize_rows,
    raw_records,
    schema_variant,
)
from aidlink.bench.quality.metrics import Evaluation, evaluate, thresholds
from aidlink.bench.quality.report import print_summary, print_table, write_plot
from aidlink.bench.quality.task import PROFILES, LinkageTask, csv_task, synthetic_task
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.encoding.schemas import RECOMMENDED_THRESHOLD, V3_RECOMMENDED_THRESHOLD
from aidlink.matcher.missing_aware import OptionalSegments

# name -> (xor_folds, aidlinkHardening section) applied to the default schema
HARDENING_VARIANTS: dict[str, tuple[int | None, dict | None]] = {
    "salt: birth year": (None, {"salt": {"feature": "birth_date", "length": 4}}),
    "xor-fold once": (1, None),
    "balance": (None, {"balance": True}),
    "BLIP f=0.02": (None, {"blip": {"flipProbability": 0.02}}),
    "BLIP f=0.05": (None, {"blip": {"flipProbability": 0.05}}),
}
# Balanced encodings agree on the complement bits too: unrelated records already score ~0.5-0.7,
# so their sweep starts higher (a low threshold would make nearly every pair a candidate).
BALANCED_SWEEP = (0.80, 0.99, 0.01)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``quality`` to the ``bench`` subparsers; its handler is :func:`run`."""
    parser = subparsers.add_parser(
        "quality",
        help="linkage quality: default schema vs a clkhash-style baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=100_000, help="generated records per side (default 100000)")
    parser.add_argument("--seed", type=int, default=20240611, help="population and corruption seed")
    parser.add_argument("--overlap", type=float, default=0.5, help="share of persons on both sides (default 0.5)")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="corruption profile of generated data (hard: >35%% of rows corrupted, 40%% of B's IDs blank)",
    )
    parser.add_argument("--a", help="CSV extract A (rec_id and person columns)")
    parser.add_argument("--b", help="CSV extract B")
    parser.add_argument("--truth", help="CSV of matching id pairs: id in A, id in B")
    parser.add_argument("--id-column", default="rec_id", help="record id column of --a/--b (default rec_id)")
    parser.add_argument(
        "--febrl4", action="store_true", help="run on FEBRL4 with bench/febrl/febrl4-v2.json (--v3: febrl4-v3.json)"
    )
    parser.add_argument(
        "--v3", action="store_true", help="measure the earlier schema v3 (chinese-person-v3.json, febrl4-v3.json)"
    )
    parser.add_argument("--schema", help="linkage schema for aidlink (default: the shipped Chinese person schema)")
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs=3,
        default=None,
        metavar=("LOW", "HIGH", "STEP"),
        help="threshold sweep (default 0.60 0.95 0.01; FEBRL4 with v2: 0.50 0.95 0.01)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="threshold to summarise (default: the schema's recommended threshold)",
    )
    parser.add_argument(
        "--hardening", action="store_true", help="also measure each hardening option (on the v3 schema)"
    )
    parser.add_argument(
        "--blocked",
        action="store_true",
        help="also run the matcher's blocked join on the node's tokens (generated or CSV data; at --threshold)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the clkhash-style baseline")
    parser.add_argument("--plot", default="quality.png", help="PNG plot path (default quality.png; '' for none)")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    # Diffused (v2) encodings of unrelated records score about 0.5: a sweep from 0.5 makes half of
    # all pairs candidates, affordable on FEBRL4 (25M pairs), not on --n 100000 (10^10).
    low = 0.50 if args.febrl4 and not args.v3 else 0.60
    sweep = thresholds(*(args.thresholds or (low, 0.95, 0.01)))
    secret = hashlib.sha256(f"aidlink bench quality {args.seed}".encode()).digest()
    started = time.monotonic()
    if args.febrl4:
        from aidlink.bench import febrl

        task = febrl.febrl4_task()
        if args.v3:
            schema, recommended = febrl.febrl4_schema(febrl.V3_SCHEMA_FILE), febrl.V3_RECOMMENDED_THRESHOLD
        else:
            schema, recommended = febrl.febrl4_schema(), febrl.RECOMMENDED_THRESHOLD
    elif args.a or args.b or args.truth:
        if not (args.a and args.b and args.truth):
            raise SystemExit("--a, --b and --truth go together")
        task, schema, recommended = csv_task(args.a, args.b, args.truth, id_column=args.id_column), None, None
    else:
        task = synthetic_task(args.n, seed=args.seed, overlap=args.overlap, profile_name=args.profile)
        schema, recommended = None, None
    if schema is None:
        if args.schema:
            schema, recommended = LinkageSchema.load(args.schema), RECOMMENDED_THRESHOLD
        elif args.v3:
            schema, recommended = LinkageSchema.chinese_v3(), V3_RECOMMENDED_THRESHOLD
        else:
            schema, recommended = LinkageSchema.default_chinese(), RECOMMENDED_THRESHOLD
    threshold = args.threshold if args.threshold is not None else recommended
    out.write(
        f"task: {task.name}: {len(task.rows_a)} vs {len(task.rows_b)} rows, {len(task.true_pairs)} true pairs "
        f"({time.monotonic() - started:.0f} s)\n"
    )
    if task.corrupted is not None:
        out.write(
            f"rows differing from the truth after normalization: A {task.corrupted[0]:.1%}, B {task.corrupted[1]:.1%}\n"
        )

    evaluations = evaluate_task(
        task,
        schema,
        secret,
        sweep,
        febrl=args.febrl4,
        baseline=not args.no_baseline,
        hardening=args.hardening,
        threads=args.threads,
        out=out,
    )
    print_table(evaluations[:2] if not args.no_baseline else evaluations[:1], out, recommended=threshold)
    out.write("\n")
    for evaluation in evaluations:
        print_summary(evaluation, out, threshold if not evaluation.method.startswith("aidlink +") else None)
    if args.blocked and not args.febrl4:
        from aidlink.bench.quality.blocked import compare_joins

        assert threshold is not None  # the schema's recommended one when none was given

        out.write(f"\njoins at {threshold:g} (node pipeline, greedy 1-to-1):\n")
        for row in compare_joins(task, schema, secret, threshold, optional_segments(schema)):
            out.write(
                f"  {row.join:<14} pairs scored {row.scored_pairs:>13,}  links {row.links:>7}  P={row.precision:.4f} "
                f"R={row.recall:.4f} F1={row.f1:.4f}  ({row.seconds:.0f} s)\n"
            )
    if args.plot:
        write_plot(evaluations[:2], args.plot, task.name, threshold)
        out.write(f"plot: {args.plot}\n")
    out.write(f"total {time.monotonic() - started:.0f} s\n")
    return 0


def evaluate_task(
    task: LinkageTask,
    schema: LinkageSchema,
    secret: bytes,
    sweep: list[float],
    *,
    febrl: bool = False,
    baseline: bool = True,
    hardening: bool = False,
    threads: int | None = None,
    out: TextIO | None = None,
) -> list[Evaluation]:
    """The aidlink evaluation first, then the baseline and hardening variants as asked."""

    def log(message: str) -> None:
        if out is not None:
            out.write(message + "\n")

    records_a: Sequence[dict[str, str] | None]
    records_b: Sequence[dict[str, str] | None]
    if febrl:
        records_a, records_b = raw_records(task.rows_a, schema), raw_records(task.rows_b, schema)
    else:
        norm_a = normalize_rows(task.rows_a, task.reference_date)
        norm_b = normalize_rows(task.rows_b, task.reference_date)
        records_a, records_b = norm_a.features, norm_b.features
        for side, norm in (("A", norm_a), ("B", norm_b)):
            rejected = sum(1 for f in norm.features if f is None)
            log(
                f"normalization {side}: {rejected} rows rejected {dict(norm.rejected.most_common(5))}; "
                f"flags {dict(norm.flagged.most_common(5))}"
            )

    def measure(method: str, method_schema: LinkageSchema, a, b, method_sweep: list[float] = sweep) -> Evaluation:
        began = time.monotonic()
        enc_a, enc_b = encode_records(a, method_schema, secret), encode_records(b, method_schema, secret)
        evaluation = evaluate(
            method, task, enc_a, enc_b, method_sweep, threads=threads, segments=optional_segments(method_schema)
        )
        log(f"{method}: {evaluation.candidates} candidate pairs ({time.monotonic() - began:.0f} s)")
        return evaluation

    evaluations = [measure("aidlink", schema, records_a, records_b)]
    if baseline:
        plain = _plain_bigrams(schema) if febrl else baseline_schema()
        evaluations.append(measure("baseline", plain, raw_records(task.rows_a, plain), raw_records(task.rows_b, plain)))
    if hardening:
        # The options apply to a schema without segments or diffusion: for v2, its v3 counterpart.
        base = schema
        if schema.hardening.layout is not None:
            from aidlink.bench import febrl as febrl_bench

            base = febrl_bench.febrl4_schema(febrl_bench.V3_SCHEMA_FILE) if febrl else LinkageSchema.chinese_v3()
        for name, (folds, section) in HARDENING_VARIANTS.items():
            variant = schema_variant(base, xor_folds=folds, hardening=section)
            variant_sweep = thresholds(*BALANCED_SWEEP) if variant.hardening.balance else sweep
            evaluations.append(measure(f"aidlink + {name}", variant, records_a, records_b, variant_sweep))
    return evaluations


def optional_segments(schema: LinkageSchema) -> OptionalSegments | None:
    """The optional segments a matcher compares missing-aware, for a segmented schema (else None)."""
    layout = schema.hardening.layout
    if layout is None or not layout.optional:
        return None
    return OptionalSegments(tuple((start, bits) for _, start, bits in layout.describe()))


def _plain_bigrams(schema: LinkageSchema) -> LinkageSchema:
    """The same fields as ``schema``, every one as bigrams with 10 bits per token (FEBRL baseline)."""
    document = schema.to_json()
    for feature in document["features"]:
        if not feature.get("ignored"):
            feature["format"] = {"type": "string"}
            feature["hashing"] = {
                "comparison": {"type": "ngram", "n": 2},
                "strategy": {"bitsPerToken": 10},
                "hash": {"type": "blakeHash"},
                "missingValue": {"sentinel": ""},
            }
    return LinkageSchema.from_json(document)
