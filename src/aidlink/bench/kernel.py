"""``aidlink bench kernel``: aidlink's Dice kernel against anonlink on the same encodings.

Generates Bloom-filter-like encodings (20–35 % of bits set) with planted near-duplicates,
or, with --schema, encodes two synthetic department extracts with a shipped schema (v2's
diffused segments hold about half their bits set), runs anonlink's candidate generation
(single-threaded, as anonlink runs) and aidlink's kernel at 1 and 2 threads on whole
vectors, checks the outputs are identical and prints throughput. Exits non-zero if any
output differs from anonlink's.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TextIO

import numpy as np

from aidlink.bench.anonlink_compat import import_anonlink
from aidlink.bench.schema_datasets import SCHEMAS, make_schema_datasets
from aidlink.bench.timing import timed, timed_cpu
from aidlink.matcher.similarity import CandidatePairs, candidate_pairs, pack

_GENERATE_ROWS = 2048  # rows generated per step, to bound temporary memory


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``kernel`` command to the ``bench`` subparsers; its handler is ``run``."""
    parser = subparsers.add_parser(
        "kernel",
        help="Dice similarity kernel throughput vs anonlink (identical results checked)",
        description=__doc__,
    )
    parser.add_argument("--n", type=int, default=20000, help="records per side (default 20000)")
    parser.add_argument(
        "--bits", type=int, default=1024, help="encoding length in bits, a multiple of 64 (default 1024)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="Dice threshold; pairs need score >= threshold (default 0.8; with --schema, the schema's "
        "calibrated threshold: 0.72 for chinese-person-v2.1 and v2)",
    )
    parser.add_argument(
        "--schema",
        choices=SCHEMAS,
        default=None,
        help="encodings of two synthetic extracts under this shipped schema instead of random vectors "
        "(--bits is then the schema's 1024)",
    )
    parser.add_argument("--seed", type=int, default=20240601, help="random seed")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="aidlink thread counts to time (default: 1 2)"
    )
    parser.add_argument(
        "--planted", type=float, default=0.5, help="share of B records that are noisy copies of A records (default 0.5)"
    )
    parser.add_argument(
        "--whole-process",
        action="store_true",
        help="also time `aidlink match --all-pairs` as a whole process on one core (start-up, reading clkhash "
        "JSON, the join, writing CSV) beside anonlink's in-process candidate generation",
    )
    parser.set_defaults(func=run)
    return parser


def _one_core() -> None:  # pragma: no cover - runs in the child before exec
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def whole_process_match(a_bytes: np.ndarray, b_bytes: np.ndarray, threshold: float) -> tuple[float, int]:
    """Seconds `aidlink match A.json B.json --all-pairs` takes as a process pinned to one core
    (NUMBA_NUM_THREADS=1), on clkhash-format JSON files of A and B, and the pairs it wrote."""
    with tempfile.TemporaryDirectory(prefix="aidlink-bench-match-") as tmp:
        paths = []
        for name, rows in (("a", a_bytes), ("b", b_bytes)):
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps({"clks": [base64.b64encode(bytes(r)).decode() for r in rows]}))
            paths.append(str(path))
        out = Path(tmp) / "pairs.csv"
        command = [sys.executable, "-m", "aidlink.cli.main", "match", *paths, "--all-pairs"]
        command += ["--threshold", str(threshold), "-o", str(out)]
        env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=_one_core, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"aidlink match failed: {done.stderr.strip()[-500:]}")
        with open(out, newline="") as fh:
            pairs = sum(1 for _ in csv.reader(fh)) - 1
        return seconds, pairs


def _bloom_filters(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """``n`` random encodings as (n, bits/8) uint8, each with 20–35 % of bits set."""
    out = np.empty((n, bits // 8), dtype=np.uint8)
    for start in range(0, n, _GENERATE_ROWS):
        stop = min(start + _GENERATE_ROWS, n)
        density = rng.uniform(0.20, 0.35, size=(stop - start, 1)).astype(np.float32)
        out[start:stop] = np.packbits(rng.random((stop - start, bits), dtype=np.float32) < density, axis=1)
    return out


def _near_duplicates(rng: np.random.Generator, originals: np.ndarray) -> np.ndarray:
    """Noisy copies: drop ~5 % of set bits and set ~1.5 % of clear bits (Dice ~0.9)."""
    out = np.empty_like(originals)
    bits = originals.shape[1] * 8
    for start in range(0, len(originals), _GENERATE_ROWS):
        stop = min(start + _GENERATE_ROWS, len(originals))
        bitmap = np.unpackbits(originals[start:stop], axis=1).astype(bool)
        noise = rng.random((stop - start, bits), dtype=np.float32)
        kept = bitmap & (noise >= 0.05)
        added = ~bitmap & (noise < 0.015)
        out[start:stop] = np.packbits(kept | added, axis=1)
    return out


def make_datasets(n: int, bits: int, planted: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Datasets A and B (uint8 rows) where ``planted`` of B are noisy copies of A rows."""
    a, b, _ = make_linked_datasets(n, bits, planted, seed)
    return a, b


def make_linked_datasets(n: int, bits: int, planted: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_datasets``'s A and B, and per B row the A row it copies (-1: none)."""
    rng = np.random.default_rng(seed)
    a = _bloom_filters(rng, n, bits)
    n_planted = int(round(n * planted))
    originals = rng.choice(n, size=n_planted, replace=False)
    copies = _near_duplicates(rng, a[originals])
    b = np.concatenate([copies, _bloom_filters(rng, n - n_planted, bits)])
    source = np.concatenate([originals, np.full(n - n_planted, -1)]).astype(np.int64)
    order = rng.permutation(n)
    return a, b[order], source[order]


def _identical(ours: CandidatePairs, theirs: tuple) -> bool:
    mine = ours.to_anonlink()
    return mine[0].tobytes() == theirs[0].tobytes() and mine[1] == tuple(theirs[1]) and mine[2] == tuple(theirs[2])


def _density(encodings: np.ndarray) -> tuple[float, float, float]:
    """The 10th, 50th and 90th percentile of the share of bits set per encoding."""
    share = np.unpackbits(encodings, axis=1).mean(axis=1)
    low, median, high = np.percentile(share, [10, 50, 90])
    return float(low), float(median), float(high)


def _resolve(args: argparse.Namespace) -> None:
    """The defaults that depend on --schema: the schema's width and calibrated threshold."""
    if args.schema is not None:
        args.bits = 1024
    if args.threshold is None:
        from aidlink.bench.schema_datasets import schema_policy_of

        args.threshold = schema_policy_of(args.schema).calibrated_threshold if args.schema is not None else 0.8


def _validate(args: argparse.Namespace) -> str | None:
    if args.n < 1:
        return f"--n must be at least 1; got {args.n}"
    if args.bits < 64 or args.bits % 64:
        return f"--bits must be a positive multiple of 64; got {args.bits}"
    if not 0.0 <= args.planted <= 1.0:
        return f"--planted must be between 0 and 1; got {args.planted}"
    if any(t < 1 for t in args.threads):
        return f"--threads values must be positive; got {args.threads}"
    return None


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run the benchmark; 0 when every aidlink result equals anonlink's, 1 otherwise."""
    _resolve(args)
    problem = _validate(args)
    if problem:
        print(f"aidlink bench kernel: {problem}", file=sys.stderr)
        return 2
    anonlink = import_anonlink()
    from anonlink.candidate_generation import find_candidate_pairs
    from anonlink.similarities import dice_coefficient_accelerated

    if args.schema is None:
        a_bytes, b_bytes = make_datasets(args.n, args.bits, args.planted, args.seed)
        source = f"random vectors, {args.planted:.0%} of B planted near-duplicates"
    else:  # rows the pipeline refuses are left out: trim both sides to the same count
        a_bytes, b_bytes, _, _ = make_schema_datasets(args.n, args.schema, args.seed)
        args.n = min(len(a_bytes), len(b_bytes))
        a_bytes, b_bytes = a_bytes[: args.n], b_bytes[: args.n]
        source = f"{args.schema} encodings of two synthetic nhsa extracts"
    a_packed, b_packed = pack(a_bytes), pack(b_bytes)
    a_records = [bytes(row) for row in a_bytes]
    b_records = [bytes(row) for row in b_bytes]
    comparisons = args.n * args.n

    # JIT warm-up (compile, or load numba's on-disk cache) on a tiny input per thread count.
    tiny = a_packed[: min(8, args.n)]
    warmups = {}
    for threads in args.threads:
        _, warmups[threads] = timed(partial(candidate_pairs, tiny, tiny, args.threshold, threads=threads))

    expected, anonlink_s, anonlink_cpu = timed_cpu(
        lambda: find_candidate_pairs([a_records, b_records], dice_coefficient_accelerated, args.threshold)
    )
    rows = [("anonlink " + anonlink.__version__, "1", anonlink_s, anonlink_cpu, True)]
    for threads in args.threads:
        got, seconds, cpu = timed_cpu(partial(candidate_pairs, a_packed, b_packed, args.threshold, threads=threads))
        rows.append(("aidlink", str(threads), seconds, cpu, _identical(got, expected)))

    print(
        f"Dice join: {args.n} x {args.n} records, {args.bits} bits, "
        f"threshold {args.threshold}, seed {args.seed}: {len(expected[0])} candidate pairs",
        file=out,
    )
    low, median, high = _density(np.concatenate([a_bytes, b_bytes]))
    print(f"{source}; bits set per encoding: median {median:.3f} (10-90 %: {low:.3f}-{high:.3f})", file=out)
    print(
        "JIT warm-up (excluded from timings): " + ", ".join(f"{t} thread(s) {s:.2f} s" for t, s in warmups.items()),
        file=out,
    )
    print(
        f"{'implementation':<18}{'threads':>8}{'seconds':>10}{'comparisons/s':>16}{'vs anonlink':>13}"
        f"{'cpu s':>8}{'per cpu-s':>12}{'identical':>11}",
        file=out,
    )
    for name, threads, seconds, cpu, same in rows:
        print(
            f"{name:<18}{threads:>8}{seconds:>10.3f}{comparisons / seconds:>16.3e}"
            f"{anonlink_s / seconds:>12.2f}x{cpu:>8.3f}{comparisons / max(cpu, 1e-9):>12.3e}{'yes' if same else 'NO':>11}",
            file=out,
        )
    print(
        "comparisons/s = n*n record pairs divided by wall time; per cpu-s = divided by the CPU seconds "
        "the process spent (all threads; on a shared machine wall time also counts waiting for a core). "
        "Both sides prune by popcount; a skipped pair counts as compared.",
        file=out,
    )
    if args.whole_process:
        seconds, pairs = whole_process_match(a_bytes, b_bytes, args.threshold)
        print(
            f"whole process, one core: aidlink match --all-pairs {seconds:.3f} s ({pairs} pairs written, "
            f"{'same count as anonlink' if pairs == len(expected[0]) else 'COUNT DIFFERS'}) vs anonlink's "
            f"in-process candidate generation {anonlink_s:.3f} s: {anonlink_s / seconds:.2f}x",
            file=out,
        )
        if pairs != len(expected[0]):
            print(
                "aidlink bench kernel: aidlink match wrote another number of pairs than anonlink found", file=sys.stderr
            )
            return 1
    if not all(row[-1] for row in rows):
        print("aidlink bench kernel: aidlink's candidate pairs differ from anonlink's", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m bench.kernel``."""
    parser = argparse.ArgumentParser(prog="aidlink bench")
    register(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["kernel", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
