"""Rows per CPU-second of the node's whole path (normalize + encode, ``RecordPipeline.encode_persons``)
for v2 and v2.1 side by side, twice each, on 40,000 synthetic nhsa rows in one process.

    python docs/scripts/node_path_rates.py
"""

from __future__ import annotations

import time

from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.synthetic import SyntheticPopulation
from aidlink.gateway.synthetic.extracts import department_extract

ROWS = 40_000


def main() -> None:
    population = SyntheticPopulation.generate(42_000, seed=3)
    rows = department_extract(population, "nhsa", seed=3).rows[:ROWS]
    for _ in range(2):
        for name in ("chinese-person-v2.json", "chinese-person-v2.1.json"):
            pipeline = RecordPipeline(LinkageSchema.shipped(name), b"k" * 32, 1)
            started = time.process_time()
            pipeline.encode_persons(rows)
            seconds = time.process_time() - started
            print(f"{name}: {len(rows):,} rows in {seconds:.2f} CPU-s, {len(rows) / seconds:,.0f} rows per CPU-second")


if __name__ == "__main__":
    main()
