"""``aidlink bench encode``: records/s of aidlink's encoder beside clkhash's ``generate_clks``.

One run, one set of records: a synthetic population's medical-insurance extract (default
corruption), normalized once (timed apart). Then, on the same normalized records:

- aidlink's fast path (``encode_blob_in_processes``: N processes in all, this one included),
  for the clkhash-compatible v3 schema (``LinkageSchema.chinese_v3()``) and the default v2
  schema (segmented, keyed diffusion), with each process's rows and CPU seconds: records per
  CPU-second per process and this (parent) process's share of the CPU tell how well the
  processes scale even on a loaded machine, where records/s depends on what else runs;
- clkhash 0.18.3's ``generate_clks`` on the v3 schema with 1 and 2 workers, and every CLK
  compared with aidlink's. clkhash pins ``cryptography<41`` (see ``gateway.encoding.encoder``),
  so it cannot live in aidlink's environment: it runs in the interpreter given by
  ``--clkhash-python`` (a virtualenv with ``pip install clkhash==0.18.3``), on the same
  records written to a temporary CSV; only its ``generate_clks`` call is timed;
- the plain per-record path (``Encoder.encode``) on a sample, compared with the fast path;
- the node's whole path from raw rows (normalize + encode v2) on 1 and 2 processes.

The load average is printed at the start and the end: records/s are comparable only between
runs on an equally loaded machine. Exits 1 if any output differs (aidlink fast vs plain, 1 vs 2 processes, aidlink vs clkhash).
Encoders start cold in every timing (fresh token and value tables).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_RECORDS = 200_000
DEFAULT_SEED = 20261127
SECRET = bytes(range(32))
TODAY = date(2025, 6, 30)
PLAIN_SAMPLE = 5000

# Run by the clkhash interpreter: argv = directory with schema.json, records.csv, secret.hex, workers.
CLKHASH_RUNNER = r"""
import base64, csv, json, resource, sys, time
from pathlib import Path
from clkhash import schema as clkschema
from clkhash.clk import generate_clks
import clkhash
directory = Path(sys.argv[1])
schema = clkschema.from_json_dict(json.loads((directory / "schema.json").read_text(encoding="utf-8")))
with open(directory / "records.csv", encoding="utf-8", newline="") as fh:
    rows = list(csv.reader(fh))[1:]
secret = bytes.fromhex((directory / "secret.hex").read_text().strip())
def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
timings = {}
for workers in [int(w) for w in sys.argv[2].split(",")]:
    start, cpu_start = time.perf_counter(), cpu()
    clks = generate_clks(rows, schema, secret, validate=True, max_workers=workers)
    timings[workers] = (time.perf_counter() - start, cpu() - cpu_start)
    with open(directory / f"clks-{workers}.txt", "w") as out:
        out.write("\n".join(base64.b64encode(c.tobytes()).decode() for c in clks))
print(json.dumps({"version": getattr(clkhash, "__version__", "?"), "seconds": timings}))
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "encode",
        help="encoding records/s, aidlink (1 and 2 processes) beside clkhash generate_clks, outputs compared",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help=f"records (default {DEFAULT_RECORDS})")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2], help="aidlink process counts to time (default: 1 2)"
    )
    parser.add_argument(
        "--clkhash-python",
        metavar="PYTHON",
        help="an interpreter with clkhash 0.18.3 installed (e.g. /tmp/clkvenv/bin/python); without it clkhash is skipped",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="skip the raw rows -> CLK (normalize + encode) figure"
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="rows a process takes at a time (default: aidlink.gateway.encoding.bulk.CHUNK_RECORDS)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic population")
    parser.set_defaults(func=run)
    return parser


def _rate(count: int, seconds: float, cpu: float | None = None) -> str:
    if seconds <= 0:
        return "n/a"
    text = f"{count / seconds:>9,.0f} records/s ({seconds:6.2f} s"
    if cpu:
        text += f"; {cpu:6.2f} CPU-s, {count / cpu:,.0f} records per CPU-second"
    return text + ")"


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have been waited for (pool workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(work: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process and its workers)."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    result = work(*args, **kwargs)
    return result, time.perf_counter() - start, _cpu_seconds() - cpu


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _shares(shares: Sequence[Any], cpu: float) -> str:
    """Per process: rows, CPU seconds and records per CPU-second; the parent's share of all the CPU."""
    parts = []
    parent_cpu = 0.0
    for number, share in enumerate(shares):
        name = "parent" if share.parent else f"child {number}"
        rate = f"{share.rows / share.cpu_seconds:,.0f}/CPU-s" if share.cpu_seconds > 0 else "n/a"
        parts.append(f"{name} {share.rows:,} rows in {share.cpu_seconds:.2f} CPU-s ({rate})")
        if share.parent:
            parent_cpu = share.cpu_seconds
    text = "; ".join(parts)
    if cpu > 0:
        text += f"; parent's CPU share {parent_cpu / cpu:.0%} of {cpu:.2f} CPU-s"
    return text


def _plain(encoder: Any, records: Sequence[dict[str, str]]) -> list[bytes]:
    return [encoder.encode(record) for record in records]


def generate_rows(records: int, seed: int) -> list[dict[str, str]]:
    """``records`` raw rows of a synthetic medical-insurance extract (default corruption)."""
    from aidlink.gateway.synthetic import SyntheticPopulation, department_extract

    population = SyntheticPopulation.generate(int(records / 0.95) + 100, seed=seed)
    return list(department_extract(population, "nhsa", seed=seed + 1).rows[:records])


def normalized_features(rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The encoder's inputs for each row that normalizes (refused rows are left out)."""
    from aidlink.gateway.normalize.issues import RowRejected
    from aidlink.gateway.normalize.person import normalize_person

    out = []
    for row in rows:
        try:
            out.append(normalize_person(row, today=TODAY).features)
        except RowRejected:
            continue
    return out


def pipeline_clks(
    rows: Sequence[dict[str, str]],
    schema_name: str,
    processes: int,
    shares: list[Any] | None = None,
    chunk: int | None = None,
) -> bytes:
    """Every encodable row's CLK, joined in row order, normalized and encoded on ``processes``."""
    from aidlink.gateway.bulk_rows import encode_rows_in_processes
    from aidlink.gateway.encoding import LinkageSchema
    from aidlink.gateway.pipeline import RecordPipeline

    pipeline = RecordPipeline(LinkageSchema.shipped(schema_name), SECRET, 1, today=lambda: TODAY)
    return b"".join(
        c
        for c in encode_rows_in_processes(
            pipeline, rows, processes, shares=shares, **({} if chunk is None else {"chunk": chunk})
        )
        if isinstance(c, bytes)
    )


def run_clkhash(python: str, schema_json: dict, features: Sequence[dict[str, str]], workers: Sequence[int]) -> dict:
    """clkhash's CLKs (per worker count) and its generate_clks seconds, in ``python``."""
    identifiers = [f["identifier"] for f in schema_json["features"]]
    with tempfile.TemporaryDirectory(prefix="aidlink-bench-encode-") as tmp:
        directory = Path(tmp)
        (directory / "schema.json").write_text(json.dumps(schema_json, ensure_ascii=False), encoding="utf-8")
        (directory / "secret.hex").write_text(SECRET.hex())
        with open(directory / "records.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(identifiers)
            for i, record in enumerate(features):
                writer.writerow([record.get(name, str(i)) for name in identifiers])
        done = subprocess.run(
            [python, "-c", CLKHASH_RUNNER, tmp, ",".join(map(str, workers))],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"clkhash run failed: {done.stderr.strip().splitlines()[-1:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        clks = {}
        for w in workers:
            text = (directory / f"clks-{w}.txt").read_text()
            clks[w] = [base64.b64decode(line) for line in text.splitlines()]
    seconds = {int(k): tuple(v) for k, v in report["seconds"].items()}
    return {"version": report["version"], "seconds": seconds, "clks": clks}


def run(args: argparse.Namespace) -> int:
    from aidlink.gateway.encoding import Encoder, LinkageSchema
    from aidlink.gateway.encoding.bulk import encode_blob_in_processes
    from aidlink.gateway.encoding.schema import CHINESE_V2_SCHEMA, CHINESE_V3_SCHEMA, DEFAULT_CHINESE_SCHEMA

    if args.records < 1 or any(p < 1 for p in args.processes) or (args.chunk is not None and args.chunk < 1):
        print("aidlink bench encode: --records, --processes and --chunk must be at least 1", file=sys.stderr)
        return 2
    chunk = {} if args.chunk is None else {"chunk": args.chunk}
    ok = True
    print(f"start: {_load()}")
    rows, seconds, _ = _timed(generate_rows, args.records, args.seed)
    print(f"generated {len(rows):,} raw rows in {seconds:.1f} s (seed {args.seed})")
    features, seconds, cpu = _timed(normalized_features, rows)
    n = len(features)
    print(f"normalized (1 process): {n:,} encodable records, {_rate(len(rows), seconds, cpu)}")
    schemas = (("v3", CHINESE_V3_SCHEMA), ("v2", CHINESE_V2_SCHEMA), ("v2.1, the default", DEFAULT_CHINESE_SCHEMA))
    for label, schema_name in schemas:
        schema = LinkageSchema.shipped(schema_name)
        print(f"\n{label} ({schema_name}), {n:,} normalized records -> CLKs")
        reference = None
        for processes in args.processes:
            shares: list[Any] = []
            out, seconds, cpu = _timed(
                encode_blob_in_processes, schema, SECRET, features, processes, shares=shares, **chunk
            )
            name = "process" if processes == 1 else "processes"
            print(f"  aidlink fast path, {processes} {name}:    {_rate(n, seconds, cpu)}")
            print(f"    per process: {_shares(shares, cpu)}")
            if reference is None:
                reference = out
            elif out.blob != reference.blob or {r: str(e) for r, e in out.errors.items()} != {
                r: str(e) for r, e in reference.errors.items()
            }:
                ok = False
                print(f"  MISMATCH: {processes} processes differ from {args.processes[0]}")
        assert reference is not None
        listed = reference.as_list()
        sample = features[:PLAIN_SAMPLE]
        plain, seconds, cpu = _timed(_plain, Encoder(schema, SECRET), sample)
        same = plain == listed[: len(sample)]
        ok = ok and same
        print(
            f"  aidlink plain encode() per record, 1 process, first {len(sample):,}: {_rate(len(sample), seconds, cpu)}"
            f"; fast path equal: {'yes' if same else 'NO'}"
        )
        if label == "v3":
            if args.clkhash_python:
                try:
                    theirs = run_clkhash(args.clkhash_python, schema.to_json(), features, args.processes)
                except (OSError, RuntimeError, ValueError) as exc:
                    ok = False
                    print(f"  clkhash: could not run ({exc})")
                else:
                    for workers, (secs, _) in theirs["seconds"].items():
                        equal = theirs["clks"][workers] == listed
                        ok = ok and equal
                        print(
                            f"  clkhash {theirs['version']} generate_clks, max_workers={workers}: {_rate(n, secs)}"
                            f"; equal to aidlink: {'yes, all ' + format(n, ',') if equal else 'NO'}"
                        )
            else:
                print("  clkhash: skipped (pass --clkhash-python, an interpreter with clkhash==0.18.3)")
    if not args.no_pipeline:
        print(f"\nnode path, raw rows -> CLKs (normalize + encode {DEFAULT_CHINESE_SCHEMA}), {len(rows):,} rows")
        joined = None
        for processes in args.processes:
            shares = []
            out, seconds, cpu = _timed(pipeline_clks, rows, DEFAULT_CHINESE_SCHEMA, processes, shares, args.chunk)
            name = "process" if processes == 1 else "processes"
            print(f"  RecordPipeline.encode_rows, {processes} {name}: {_rate(len(rows), seconds, cpu)}")
            print(f"    per process: {_shares(shares, cpu)}")
            if joined is None:
                joined = out
            elif out != joined:
                ok = False
                print(f"  MISMATCH: {processes} processes differ from {args.processes[0]}")
    print(f"\nend: {_load()}")
    print("\nall outputs equal" if ok else "\nOUTPUTS DIFFER")
    return 0 if ok else 1
