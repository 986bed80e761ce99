"""What is plausible for the encodings of each known linkage schema, keyed by schema fingerprint:
the calibrated (default) threshold, the threshold floor, the density band of real records, and
the optional segments a missing-aware comparison honours. Read by the policy gate
(:mod:`matcher.policy`) and the join (:mod:`matcher.join`); the matcher never sees a schema
itself, only its fingerprint, so the figures are measured here and pinned by tests."""

from __future__ import annotations

from dataclasses import dataclass

from aidlink.matcher.comparison import DEFAULT_THRESHOLD
from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.missing_aware import OptionalSegments


@dataclass(frozen=True)
class SchemaPolicy:
    """What is plausible for the encodings of one linkage schema."""

    calibrated_threshold: float  # the default threshold
    threshold_floor: float  # no request below it, whatever the agreement
    min_density: float  # set bits / bits of any record the schema produces ...
    max_density: float  # ... lies in [min_density, max_density]
    optional_segments: OptionalSegments = OptionalSegments(())  # compared only when both records have them

    def describe_band(self) -> str:
        return f"{self.min_density:.0%}-{self.max_density:.0%}"


# Schema fingerprints (gateway.pipeline.schema_fingerprint) of the shipped schemas;
# tests/test_policy.py fails when a schema changes, so its figures here are measured again.
V3_SCHEMA_FINGERPRINT = "2c0965f2452fcaaa2263e240c1e7fe95cacda7b1e68348b15c63284e2b0e5773"  # chinese-person-v3
V2_SCHEMA_FINGERPRINT = "f42f87cd37d6f797c880d901ff4df75b749c786a3f80a9ff8f8e4a6ca6e50091"  # chinese-person-v2
V2_1_SCHEMA_FINGERPRINT = (
    "13d69eec2fb4fe30e990bd56a01b45a31c00cd5ffd8a6cfadb409aed615ee96e"  # chinese-person-v2.1, the default
)
DEFAULT_SCHEMA_FINGERPRINT = V2_1_SCHEMA_FINGERPRINT


# chinese-person-v3 (1024 bits, the earlier default), measured on aidlink.gateway.synthetic: SyntheticPopulation
# (4000 persons, seed 7), department_extract of mca, edu, nhsa, hrss and cdpf, each row encoded by
# RecordPipeline.encode_person under two secrets (16 064 records):
# - density (set bits / 1024): min 0.169, p0.1 0.207, p1 0.245, median 0.314, p99 0.347,
#   p99.9 0.405, max 0.433; records with only a name and a birth date (the least a row may
#   hold): 0.095-0.248. Band with a margin: 5%-55%. All zeros and all ones are far outside.
# - scores, mca (834) x nhsa (3872): the same person scores 0.750 at least (p1 0.846); other
#   pairs reach 0.763 at most, 3112 pairs >= 0.6, 11 >= 0.7, none >= 0.8. Calibrated
#   threshold 0.8; floor 0.7, below which pairs of different persons grow by hundreds.
#
# chinese-person-v2 (1024 bits: core 512 | resident ID 256 | phone 128 | address 128, diffusion
# t = 10), measured the same way (16 064 records; /tmp script in docs/encoding-v2.md):
# - density: min 0.291, p0.1 0.321, p1 0.378, median 0.495, p99 0.535, p99.9 0.550, max 0.565;
#   name and birth date only: 0.208-0.290. Band with a margin: 15%-65%. Diffusion puts every
#   present segment near half its bits, so a random half-full vector is inside the band: such a
#   probe scores about 0.5 against every record, under the floor.
# - scores, missing-aware, mca (834) x nhsa (3872): the same person 0.772 at least (p1 0.850);
#   other pairs 0.713 at most, 439 pairs >= 0.6, 58 >= 0.65, 3 >= 0.7, none >= 0.75. Unrelated
#   records sit near 0.5 (diffused segments agree on half their bits by chance).
# - calibrated threshold 0.72: the best F1 of both generator profiles together in
#   `aidlink bench quality` (docs/encoding-v2.md); floor 0.65, below which pairs of different
#   persons grow by hundreds.
#
# chinese-person-v2.1 (v2's layout, diffusion and keys' structure; phone and address salted by the
# birth date, so that a household shares no segment), measured the same way
# (`python docs/scripts/policy_figures.py chinese-person-v2.1.json`; v2 beside it in that run: the
# figures above within 0.005):
# - density: min 0.290, p0.1 0.316, p1 0.376, median 0.495, p99 0.534, p99.9 0.546, max 0.557:
#   the salt moves bits, not their number. Same band.
# - scores, missing-aware, mca (834) x nhsa (3872): the same person 0.767 at least (p1 0.848);
#   other pairs 0.703 at most, 77 pairs >= 0.6 (v2: 434), 6 >= 0.65 (v2: 48), 2 >= 0.7: household
#   members no longer share an address or phone segment. Same threshold and floor.
V2_OPTIONAL_SEGMENTS = OptionalSegments(((512, 256), (768, 128), (896, 128)))  # id, phone, address
V2_CALIBRATED_THRESHOLD = 0.72
SCHEMA_POLICIES: dict[str, SchemaPolicy] = {
    V3_SCHEMA_FINGERPRINT: SchemaPolicy(DEFAULT_THRESHOLD, 0.7, 0.05, 0.55),
    V2_SCHEMA_FINGERPRINT: SchemaPolicy(V2_CALIBRATED_THRESHOLD, 0.65, 0.15, 0.65, V2_OPTIONAL_SEGMENTS),
    V2_1_SCHEMA_FINGERPRINT: SchemaPolicy(V2_CALIBRATED_THRESHOLD, 0.65, 0.15, 0.65, V2_OPTIONAL_SEGMENTS),
}
# Any other schema (custom deployments, tests): the same floor, and a wide band that still
# refuses all zeros, all ones and encodings nearly so.
OTHER_SCHEMAS = SchemaPolicy(DEFAULT_THRESHOLD, 0.7, 0.02, 0.80)


def schema_policy(spec: EncodingSpec | None) -> SchemaPolicy:
    if spec is None:
        return OTHER_SCHEMAS
    return SCHEMA_POLICIES.get(spec.schema, OTHER_SCHEMAS)  # the schema part: any key scope has one policy
