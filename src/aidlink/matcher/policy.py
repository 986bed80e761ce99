"""The matcher's policy gate: the rules every use case passes, online (gRPC) or offline (bundles).

`Exchange` calls the gate on upload, compare and status query (and the dispute desk
through `Exchange.agreement_for` and `Exchange._threshold`). Each refusal is a
`PolicyRefusal` whose message starts with the rule it names:

- **threshold floor**: a schema has a calibrated threshold (the default) and a floor
  below which scores stop telling persons apart; an agreement may raise the floor
  (`min_threshold`), never lower it. A request below the floor is refused, not raised.
- **probe refused**: an encoding whose popcount no person's record under the schema
  produces (all zeros, all ones, or far outside the measured band) is refused: at
  upload per record (an `UploadProblem` on field ``encoding``), at status query outright.
- **purpose**: each agreement's record filter applies whatever purpose is declared (a
  record takes part only if every agreement covering the user, provider and catalog
  entry admits it), and the referral purpose belongs to the referral workflow only.
- **volume limit**: an agreement bounds the share of the provider's admitted records one
  call, and all calls of a period, may reveal to a department; reveals are counted per
  (department, agreement, provider dataset) in the matcher's state database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from aidlink.matcher.agreements import Agreement, AgreementSet
from aidlink.matcher.comparison import DEFAULT_THRESHOLD
from aidlink.matcher.datasets import DatasetVersion, EncodingSpec
from aidlink.matcher.errors import BelowThresholdFloor, InvalidInput, ProbeRefused, PurposeRefused, VolumeLimitExceeded
from aidlink.matcher.policy_schema import COMPONENT, MIGRATIONS
from aidlink.matcher.state_database import StateTarget, open_state_database, serialize_writers

# The schema fingerprint of LinkageSchema.default_chinese() (gateway.pipeline.schema_fingerprint);
# tests/test_policy.py fails when the schema changes, so its figures here are measured again.
DEFAULT_SCHEMA_FINGERPRINT = "2c0965f2452fcaaa2263e240c1e7fe95cacda7b1e68348b15c63284e2b0e5773"


@dataclass(frozen=True)
class SchemaPolicy:
    """What is plausible for the encodings of one linkage schema."""

    calibrated_threshold: float  # the default threshold
    threshold_floor: float  # no request below it, whatever the agreement
    min_density: float  # set bits / bits of any record the schema produces ...
    max_density: float  # ... lies in [min_density, max_density]

    def describe_band(self) -> str:
        return f"{self.min_density:.0%}-{self.max_density:.0%}"


# The default schema (1024 bits), measured on aidlink.gateway.synthetic: SyntheticPopulation
# (4000 persons, seed 7), department_extract of mca, edu, nhsa, hrss and cdpf, each row encoded by
# RecordPipeline.encode_person under two secrets (16 064 records):
# - density (set bits / 1024): min 0.169, p0.1 0.207, p1 0.245, median 0.314, p99 0.347,
#   p99.9 0.405, max 0.433; records with only a name and a birth date (the least a row may
#   hold): 0.095-0.248. Band with a margin: 5%-55%. All zeros and all ones are far outside.
# - scores, mca (834) x nhsa (3872): the same person scores 0.750 at least (p1 0.846); other
#   pairs reach 0.763 at most, 3112 pairs >= 0.6, 11 >= 0.7, none >= 0.8. Calibrated
#   threshold 0.8; floor 0.7, below which pairs of different persons grow by hundreds.
SCHEMA_POLICIES: dict[str, SchemaPolicy] = {
    DEFAULT_SCHEMA_FINGERPRINT: SchemaPolicy(DEFAULT_THRESHOLD, 0.7, 0.05, 0.55),
}
# Any other schema (custom deployments, tests): the same floor, and a wide band that still
# refuses all zeros, all ones and encodings nearly so.
OTHER_SCHEMAS = SchemaPolicy(DEFAULT_THRESHOLD, 0.7, 0.02, 0.80)

# Purposes that belong to a workflow of their own, not to compare or status queries.
WORKFLOW_PURPOSES = {
    "referral": "the referral purpose is usable only inside the referral workflow, for a warning that exists",
}


def schema_policy(spec: EncodingSpec | None) -> SchemaPolicy:
    if spec is None:
        return OTHER_SCHEMAS
    return SCHEMA_POLICIES.get(spec.schema_fingerprint, OTHER_SCHEMAS)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Volume limits bound bulk extraction; a share of a handful of records says little (1 of 3 is
# 33%), so up to this many records of a dataset version may always be revealed.
ALWAYS_ALLOWED_RECORDS = 25
# A record shown again within this long keeps its earlier time in the ledger (fewer writes).
REFRESH_AFTER = timedelta(days=1)


def allowed_records(share: float, admitted: int) -> int:
    """How many of `admitted` records `share` lets a department see."""
    return max(ALWAYS_ALLOWED_RECORDS, math.floor(share * admitted + 1e-9))


class VolumeLedger:
    """Provider records revealed per (department, agreement, provider dataset version), with when last.

    Counted per version, as the share is of that version's admitted records (a new version
    may carry new refs for the same persons, e.g. after a linkage-secret rotation)."""

    def __init__(self, database: StateTarget) -> None:
        """`database`: a shared `Database` (stays open), a database URL, or an SQLite file path."""
        self.database, self._owns_database = open_state_database(database, COMPONENT, MIGRATIONS)

    def reveal(
        self,
        department: str,
        agreement: Agreement,
        dataset: DatasetVersion,
        refs: Collection[str],
        admitted: int,
        now: datetime,
    ) -> None:
        """Record that `refs` (provider record refs) are shown to `department`, or refuse if the
        agreement's per-call or per-period share of the `admitted` records would be exceeded."""
        if not refs:
            return
        where = (
            f"of the {admitted} records of {dataset.qualified_name} v{dataset.version} that agreement "
            f"{agreement.id} admits for {department}"
        )
        per_call = allowed_records(agreement.max_share_per_call, admitted)
        if len(refs) > per_call:
            raise VolumeLimitExceeded(
                f"volume limit: this call would reveal {len(refs)} {where} ({len(refs) / admitted:.0%}); "
                f"the agreement allows {agreement.max_share_per_call:.0%} ({per_call}) per call. Nothing "
                f"was returned; compare a smaller dataset or a narrower selection",
                agreement=agreement.id,
            )
        db = self.database
        key = (department, agreement.id, f"{dataset.qualified_name}@v{dataset.version}")
        since = _stamp(now - timedelta(days=agreement.period_days))
        stamp = _stamp(now)
        with db.transaction() as cur:
            serialize_writers(cur, db, "policy reveals " + "|".join(key))
            cur.execute(
                db.sql(
                    "SELECT ref, revealed_at FROM policy_reveals WHERE department=? AND agreement=?"
                    " AND dataset=? AND revealed_at >= ?"
                ),
                (*key, since),
            )
            earlier = dict(cur.fetchall())
            total = len(earlier.keys() | set(refs))
            per_period = allowed_records(agreement.max_share_per_period, admitted)
            if total > per_period:
                raise VolumeLimitExceeded(
                    f"volume limit: with this call {department} would have been shown {total} {where} in "
                    f"{agreement.period_days} days ({total / admitted:.0%}; {len(earlier)} before it); the "
                    f"agreement allows {agreement.max_share_per_period:.0%} ({per_period}) per "
                    f"{agreement.period_days} days. Nothing was returned",
                    agreement=agreement.id,
                )
            # New refs, and refs last shown over a day ago (a status query repeated all day writes once).
            fresh = _stamp(now - REFRESH_AFTER)
            # In ref order, so the unique index takes them in order (random order costs SQLite far more
            # per row once the index outgrows its page cache: 13 us a ref at 200 000 refs).
            changed = [(*key, ref, stamp) for ref in sorted(refs) if earlier.get(ref, "") < fresh]
            if changed:
                cur.executemany(
                    db.sql(
                        "INSERT INTO policy_reveals (department, agreement, dataset, ref, revealed_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (department, agreement, dataset, ref)"
                        " DO UPDATE SET revealed_at = excluded.revealed_at"
                    ),
                    changed,
                )

    def revealed(self, department: str, agreement: str, dataset: str, since: datetime) -> int:
        """Distinct records of `dataset` ('<department>/<name>@v<version>') shown to `department`
        under `agreement` since `since`."""
        row = self.database.fetch_one(
            "SELECT COUNT(*) FROM policy_reveals WHERE department=? AND agreement=? AND dataset=? AND revealed_at >= ?",
            (department, agreement, dataset, _stamp(since)),
        )
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._owns_database:
            self.database.close()


@dataclass
class PolicyGate:
    agreements: AgreementSet
    ledger: VolumeLedger
    default_threshold: float | None = None  # configured default (None: the schema's calibrated one)
    today: Callable[[], date] = date.today
    clock: Callable[[], datetime] = _utc_now

    # -- purpose --------------------------------------------------------------------------------
    def check_purpose(self, purpose: str, use: str) -> None:
        """Refuse a purpose that belongs to a workflow of its own in a general `use` (compare, status)."""
        if purpose in WORKFLOW_PURPOSES:
            raise PurposeRefused(f"purpose: {purpose!r} is refused in {use}: {WORKFLOW_PURPOSES[purpose]}")

    def bind(self, agreement: Agreement, user: str, other: DatasetVersion) -> Agreement:
        """The agreement with the record filters of every agreement covering the same user, provider
        and catalog entry: a record takes part only if all of them admit it."""
        return self.agreements.bound(
            agreement, user=user, provider=other.department, catalog_entry=other.catalog_entry, today=self.today()
        )

    # -- threshold floor --------------------------------------------------------------------------
    def floor(self, agreement: Agreement | None, spec: EncodingSpec | None) -> float:
        floor = schema_policy(spec).threshold_floor
        if agreement is not None and agreement.min_threshold is not None:
            floor = max(floor, agreement.min_threshold)
        return floor

    def threshold(
        self, requested: float, agreement: Agreement | None = None, spec: EncodingSpec | None = None
    ) -> float:
        """The threshold a comparison runs at: `requested`, or the default when 0; refused below the floor."""
        floor = self.floor(agreement, spec)
        if requested == 0:
            default = (
                self.default_threshold
                if self.default_threshold is not None
                else schema_policy(spec).calibrated_threshold
            )
            return max(default, floor)
        if not 0 < requested <= 1:
            raise InvalidInput(f"threshold: {requested} is outside (0, 1]")
        if requested < floor:
            whose = (
                f"agreement {agreement.id}'s min_threshold"
                if agreement is not None and agreement.min_threshold is not None and agreement.min_threshold >= floor
                else "the linkage schema's floor"
            )
            raise BelowThresholdFloor(
                f"threshold floor: {requested:g} is below {floor:g} ({whose}); below it scores no longer "
                f"tell persons apart. Ask for {floor:g} or more, or 0 for the default"
            )
        return requested

    # -- probe refusal ----------------------------------------------------------------------------
    def implausible(self, spec: EncodingSpec, encoding: bytes) -> str | None:
        """Why no record under `spec`'s schema could have this encoding, or None."""
        bits = len(encoding) * 8
        if bits == 0:
            return "is empty"
        ones = int(np.bitwise_count(np.frombuffer(encoding, dtype=np.uint8)).sum(dtype=np.int64))
        policy = schema_policy(spec)
        if ones == 0:
            what = "all zeros"
        elif ones == bits:
            what = "all ones"
        elif not policy.min_density <= ones / bits <= policy.max_density:
            what = f"{ones} of {bits} bits set ({ones / bits:.1%})"
        else:
            return None
        return (
            f"is {what}; records under this schema set {policy.describe_band()} of their bits, "
            f"so it is a probe, not a person's record"
        )

    def record_problem(self, spec: EncodingSpec, index: int, ref: str, encoding: bytes) -> str | None:
        """The reason an uploaded record's encoding is refused as a probe, or None."""
        why = self.implausible(spec, encoding)
        return None if why is None else f"probe refused: record {index} (ref {ref!r}) {why}"

    def check_query(self, spec: EncodingSpec, encoding: bytes) -> None:
        why = self.implausible(spec, encoding)
        if why is not None:
            raise ProbeRefused(f"probe refused: the queried encoding {why}")

    # -- volume limits --------------------------------------------------------------------------
    def reveal(
        self, department: str, agreement: Agreement, other: DatasetVersion, refs: Collection[str], admitted: int
    ) -> None:
        """Count `refs` (provider records about to be shown) against the agreement's volume limits."""
        self.ledger.reveal(department, agreement, other, refs, admitted, self.clock())
