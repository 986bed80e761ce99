"""Full verification of a stored audit log, as an officer runs it.

Recomputes every leaf hash from the stored entry bodies (never trusting the
stored hashes), rebuilds the tree, and checks every stored checkpoint: its
signature (with the officer's key), that it matches the recomputed tree, and
that successive checkpoints are consistent. Checkpoints the officer kept from
earlier reviews are checked the same way, with a consistency proof to the
log's newest checkpoint, so a history rewritten and re-signed is caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aidlink.audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.merkle import MerkleTree, ProofError, hash_leaf, verify_consistency
from aidlink.audit.note import NoteError
from aidlink.audit.store import ENTRY_COLUMNS, SQLAuditStore
from aidlink.audit.verifier_key import VerifierKey
from aidlink.witness.cosignature import Cosignature, CosignatureError, WitnessVerifier, find_cosignature

MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify.

    `seq` names the entry at fault; when only a range is known (a checkpoint does
    not match), `seq`..`last` is the range that holds it.
    """

    message: str
    seq: int | None = None
    last: int | None = None


@dataclass
class VerifyResult:
    entries: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    origin: str | None = None
    problems: list[Problem] = field(default_factory=list)
    witnessed: dict[str, int] = field(default_factory=dict)
    """Witness name -> size of the largest checkpoint it cosigned that matches the stored log."""
    witnesses_checked: bool = False

    @property
    def witnessed_size(self) -> int | None:
        """Entries every witness given has vouched for (None without witness keys)."""
        if not self.witnesses_checked:
            return None
        return min(self.witnessed.values(), default=0)

    @property
    def unwitnessed(self) -> tuple[int, int] | None:
        """(first, last) entries newer than the last checkpoint every witness cosigned, if any."""
        size = self.witnessed_size
        if size is None or size >= self.entries:
            return None
        return size, self.entries - 1

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """The first entry that does not verify: the lowest entry named exactly, or the start
        of a range (from a checkpoint that does not match) that no named entry explains."""
        named = [p.seq for p in self.problems if p.seq is not None and p.last is None]
        unexplained = [
            p.seq
            for p in self.problems
            if p.seq is not None and p.last is not None and not any(p.seq <= s <= p.last for s in named)
        ]
        candidates = named + unexplained
        return min(candidates) if candidates else None

    def add(self, message: str, seq: int | None = None, last: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(message, seq, last))


def _check_entries(store: SQLAuditStore, result: VerifyResult) -> MerkleTree:
    tree = MerkleTree()
    expected = 0
    for row in store.scan():
        if row.seq != expected:
            result.add(
                f"entry {expected} is missing (the next stored entry is {row.seq}): entries were deleted", expected
            )
        expected = row.seq + 1
        leaf = hash_leaf(row.body)
        tree.append(leaf)
        if leaf != row.leaf_hash:
            result.add(
                f"entry {row.seq} was changed after it was written: its body does not match its recorded leaf hash",
                row.seq,
            )
        try:
            entry = row.entry
        except ValueError as exc:
            result.add(str(exc), row.seq)
            continue
        if entry.seq != row.seq:
            result.add(f"entry {row.seq} records position {entry.seq}: entries were moved or reordered", row.seq)
        if row.columns is not None and tuple(row.columns) != row.expected_columns():
            names = ENTRY_COLUMNS[1:-2]
            diffs = [
                f"{n}={s!r} (body says {b!r})" for n, s, b in zip(names, row.columns, row.expected_columns()) if s != b
            ]
            result.add(f"entry {row.seq}: stored filter columns were edited: {', '.join(diffs)}", row.seq)
    result.entries = tree.size
    return tree


def _open(note: bytes, keys: Sequence[VerifierKey], what: str, result: VerifyResult) -> Checkpoint | None:
    """The checkpoint in `note` if it carries a valid signature by one of `keys` (or any, without keys)."""
    try:
        origin = unverified_checkpoint(note).origin
    except CheckpointError as exc:
        result.add(f"{what} is malformed: {exc}")
        return None
    if not keys:
        return unverified_checkpoint(note)
    errors = []
    for key in keys:
        try:
            return open_checkpoint(note, key.for_origin(origin))
        except (NoteError, CheckpointError) as exc:
            errors.append(str(exc))
    result.add(f"{what} is not signed by the audit key: {'; '.join(errors)}")
    return None


def _match_tree(cp: Checkpoint, tree: MerkleTree, what: str, good_size: int, result: VerifyResult) -> bool:
    if cp.size > tree.size:
        result.add(
            f"{what} commits to {cp.size} entries but only {tree.size} are stored: the log was "
            f"truncated; entries {tree.size}..{cp.size - 1} are missing",
            tree.size,
        )
        return False
    if tree.root(cp.size) != cp.root:
        lo = min(good_size, cp.size - 1)
        result.add(
            f"the first {cp.size} entries do not match {what}: an entry in {lo}..{cp.size - 1} "
            "was changed, removed or reordered",
            lo,
            cp.size - 1,
        )
        return False
    return True


def verify_log(
    store: SQLAuditStore,
    keys: Sequence[VerifierKey] = (),
    kept_checkpoints: Sequence[bytes] = (),
    witness_keys: Sequence[WitnessVerifier] = (),
    cosigned_checkpoints: Sequence[bytes] = (),
) -> VerifyResult:
    """Verify everything stored; `kept_checkpoints` are signed notes an officer saved earlier.

    A log without any checkpoint fails: nothing signed commits to its entries. With
    `witness_keys`, each witness must have cosigned a checkpoint (found among
    `cosigned_checkpoints`, e.g. fetched from the witness, and the cosignatures stored
    beside the log's checkpoints), and the largest one each cosigned must match the
    stored entries: a log rolled back (truncated, newer checkpoints deleted) or rewritten
    and re-signed with the real key does not. Entries newer than the last cosigned
    checkpoint are reported in `result.unwitnessed` (not a failure).
    """
    result = VerifyResult(signatures_checked=bool(keys), witnesses_checked=bool(witness_keys))
    tree = _check_entries(store, result)
    good_size = 0
    previous: tuple[int, Checkpoint, bool] | None = None
    latest: Checkpoint | None = None
    for expected_number, stored in enumerate(store.checkpoints(), start=1):
        result.checkpoints += 1
        what = f"checkpoint #{stored.number} ({stored.time})"
        if stored.number != expected_number:
            result.add(
                f"checkpoint #{expected_number} is missing (next stored is #{stored.number}): checkpoints were deleted"
            )
        cp = _open(stored.note, keys, what, result)
        if cp is None:
            continue
        if (cp.size, cp.root) != (stored.size, stored.root):
            result.add(f"{what}: stored size/root columns do not match its signed note")
        if result.origin is None:
            result.origin = cp.origin
        elif cp.origin != result.origin:
            result.add(f"{what} is for log {cp.origin!r}, not {result.origin!r}")
        matches = _match_tree(cp, tree, what, good_size, result)
        if matches:
            good_size = max(good_size, cp.size)
        if previous is not None:
            _check_successive(previous, (stored.number, cp, matches), tree, result)
        previous = (stored.number, cp, matches)
        latest = cp
    for i, note in enumerate(kept_checkpoints, start=1):
        what = f"kept checkpoint {i}"
        cp = _open(note, keys, what, result)
        if cp is None:
            continue
        what = f"kept checkpoint {i} (size {cp.size})"
        if result.origin is not None and cp.origin != result.origin:
            result.add(f"{what} is for log {cp.origin!r}, not {result.origin!r}")
            continue
        _match_tree(cp, tree, what, 0, result)
        if latest is not None and 0 < cp.size <= latest.size and tree.size >= latest.size:
            try:
                verify_consistency(
                    cp.size, latest.size, tree.consistency_proof(cp.size, latest.size), cp.root, latest.root
                )
            except ProofError as exc:
                result.add(
                    f"{what} is not consistent with the log's newest checkpoint "
                    f"(size {latest.size}): history was rewritten ({exc})",
                    0,
                    cp.size - 1,
                )
    if result.checkpoints == 0:
        result.add(
            "the log has no checkpoint: nothing signed commits to its entries (a matcher started without an "
            "audit signing key, or its checkpoints were deleted)"
        )
    if witness_keys:
        _check_witnessed(store, tree, keys, witness_keys, cosigned_checkpoints, latest, result)
    return result


def _stored_cosigned_notes(store: SQLAuditStore) -> list[bytes]:
    """The stored checkpoints with the cosignatures stored beside them appended."""
    notes = {c.number: c.note for c in store.checkpoints()}
    return [notes[c.checkpoint] + c.line.encode("utf-8") + b"\n" for c in store.cosignatures() if c.checkpoint in notes]


def _check_witnessed(
    store: SQLAuditStore,
    tree: MerkleTree,
    keys: Sequence[VerifierKey],
    witness_keys: Sequence[WitnessVerifier],
    given: Sequence[bytes],
    latest: Checkpoint | None,
    result: VerifyResult,
) -> None:
    candidates = [*given, *_stored_cosigned_notes(store)]
    for witness in witness_keys:
        best: tuple[Checkpoint, Cosignature] | None = None
        for note in candidates:
            try:
                cosignature = find_cosignature(note, witness)
            except CosignatureError as exc:
                if str(exc).startswith("invalid"):
                    result.add(f"a checkpoint carries a forged cosignature: {exc}")
                continue
            cp = _open(note, keys, f"the checkpoint witness {witness.name} cosigned", result)
            if cp is None:
                continue
            if result.origin is not None and cp.origin != result.origin:
                continue  # a cosigned checkpoint of another log
            if best is None or cp.size > best[0].size:
                best = (cp, cosignature)
        if best is None:
            result.add(
                f"no checkpoint cosigned by witness {witness.name}+{witness.key_id:08x} was found: "
                "the log was never witnessed, or its witnessed checkpoints were removed (fetch it with --witness)"
            )
            continue
        cp, cosignature = best
        when = datetime.fromtimestamp(cosignature.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = f"witness {witness.name} cosigned size {cp.size} at {when}"
        if cp.size > tree.size:
            result.add(
                f"{what}, but only {tree.size} entries are stored: the log was rolled back; "
                f"entries {tree.size}..{cp.size - 1} are missing",
                tree.size,
            )
            continue
        if tree.root(cp.size) != cp.root:
            result.add(
                f"the first {cp.size} stored entries do not match the checkpoint {what}: "
                "the history was rewritten (and re-signed)",
                0,
                cp.size - 1,
            )
            continue
        if latest is not None and latest.size < cp.size:
            result.add(
                f"{what}, but the newest stored checkpoint is size {latest.size}: newer checkpoints were deleted"
            )
        result.witnessed[witness.name] = cp.size


def _check_successive(
    previous: tuple[int, Checkpoint, bool],
    current: tuple[int, Checkpoint, bool],
    tree: MerkleTree,
    result: VerifyResult,
) -> None:
    (n1, cp1, ok1), (n2, cp2, ok2) = previous, current
    if cp2.size < cp1.size:
        result.add(
            f"checkpoint #{n2} (size {cp2.size}) is smaller than checkpoint #{n1} "
            f"(size {cp1.size}): the log was rolled back",
            cp2.size,
        )
    elif cp2.size == cp1.size:
        if cp2.root != cp1.root:
            result.add(
                f"checkpoints #{n1} and #{n2} sign different roots for size {cp1.size}: two histories were signed"
            )
    elif cp1.size > 0 and ok1 and ok2:
        try:
            verify_consistency(cp1.size, cp2.size, tree.consistency_proof(cp1.size, cp2.size), cp1.root, cp2.root)
        except ProofError as exc:
            result.add(f"checkpoints #{n1} and #{n2} are not consistent: {exc}")
