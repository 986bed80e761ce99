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

from aidlink.audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from aidlink.audit.log import unverified_checkpoint
from aidlink.audit.merkle import MerkleTree, ProofError, hash_leaf, verify_consistency
from aidlink.audit.note import NoteError
from aidlink.audit.store import ENTRY_COLUMNS, SQLAuditStore
from aidlink.audit.verifier_key import VerifierKey

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
    store: SQLAuditStore, keys: Sequence[VerifierKey] = (), kept_checkpoints: Sequence[bytes] = ()
) -> VerifyResult:
    """Verify everything stored; `kept_checkpoints` are signed notes an officer saved earlier."""
    result = VerifyResult(signatures_checked=bool(keys))
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
    return result


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
