"""A linkage task: two lists of raw rows, the true pairs, and the hard-negative pairs."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from os import PathLike

import numpy as np

from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.synthetic import CorruptionProfile, SyntheticPopulation, linkage_pair
from aidlink.gateway.synthetic.extracts import Extract, clean_fields

SAME_NAME_AND_BIRTH = "same name and birth date"
TWINS = "twins"


@dataclass
class LinkageTask:
    """Rows of A and B (dicts of raw strings), true pairs and hard negatives as row-index pairs."""

    name: str
    rows_a: list[dict[str, str]]
    rows_b: list[dict[str, str]]
    true_pairs: np.ndarray  # (k, 2) int64: row of A, row of B
    hard_negatives: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> (k, 2) int64
    reference_date: object = None  # "today" for normalization (synthetic data has a fixed one)
    # Share of rows of A and of B whose normalized values differ from the truth's (synthetic only)
    corrupted: tuple[float, float] | None = None


def pair_codes(pairs: np.ndarray, n_b: int) -> np.ndarray:
    """One int64 per (a, b) pair, for set operations."""
    return pairs[:, 0].astype(np.int64) * n_b + pairs[:, 1].astype(np.int64)


def _pairs(items: list[tuple[int, int]]) -> np.ndarray:
    return np.asarray(sorted(items), dtype=np.int64).reshape(-1, 2)


PROFILES = ("default", "hard")


def synthetic_task(
    n: int,
    *,
    seed: int,
    overlap: float,
    corruption: CorruptionProfile | None = None,
    profile_name: str = "default",
) -> LinkageTask:
    """``n`` vs ``n`` rows from the synthetic population, corrupted with ``corruption`` on both
    sides, or else the named profile (``default``; ``hard``: the hard profile, with 40% of B's
    ID numbers blank)."""
    shared = round(n * overlap)
    population = SyntheticPopulation.generate(2 * n - shared, seed=seed)
    if corruption is not None:
        profile_a = profile_b = corruption
    elif profile_name == "hard":
        profile_a, profile_b = CorruptionProfile.hard_pair()
    elif profile_name == "default":
        profile_a = profile_b = CorruptionProfile.default()
    else:
        raise ValueError(f"unknown corruption profile {profile_name!r}; expected one of {list(PROFILES)}")
    a, b = linkage_pair(population, n, overlap=overlap, seed=seed, corruption=profile_a, corruption_b=profile_b)
    b_row = {population_id: i for i, population_id in enumerate(b.truth[r["rec_id"]] for r in b.rows)}
    a_ids = [a.truth[r["rec_id"]] for r in a.rows]
    b_ids = [b.truth[r["rec_id"]] for r in b.rows]
    true_pairs = [(i, b_row[pid]) for i, pid in enumerate(a_ids) if pid in b_row]

    by_name_birth: dict[tuple[str, object], list[int]] = defaultdict(list)
    by_household_birth: dict[tuple[str, object], list[int]] = defaultdict(list)
    for j, pid in enumerate(b_ids):
        person = population.person(pid)
        by_name_birth[(person.name, person.birth_date)].append(j)
        by_household_birth[(person.household_id, person.birth_date)].append(j)
    same, twins = [], []
    for i, pid in enumerate(a_ids):
        person = population.person(pid)
        for j in by_name_birth.get((person.name, person.birth_date), ()):
            if b_ids[j] != pid:
                same.append((i, j))
        for j in by_household_birth.get((person.household_id, person.birth_date), ()):
            if b_ids[j] != pid:
                twins.append((i, j))
    name = f"synthetic n={n} seed={seed} overlap={overlap}"
    if corruption is None and profile_name != "default":
        name += f" profile={profile_name}"
    return LinkageTask(
        name,
        a.rows,
        b.rows,
        _pairs(true_pairs),
        {SAME_NAME_AND_BIRTH: _pairs(same), TWINS: _pairs(twins)},
        population.reference_date,
        (_corrupted_share(a, population), _corrupted_share(b, population)),
    )


def _corrupted_share(extract: Extract, population: SyntheticPopulation) -> float:
    """Share of rows whose normalized values (or refusal) differ from the person's clean row."""
    today = population.reference_date

    def normalized(row: dict[str, str]) -> dict[str, str] | None:
        try:
            return dict(normalize_person(row, today=today).features)
        except RowRejected:
            return None

    differing = sum(
        1
        for row in extract.rows
        if normalized(row) != normalized(clean_fields(population.person(extract.truth[row["rec_id"]])))
    )
    return differing / len(extract.rows) if extract.rows else 0.0


def read_rows(path: str | PathLike[str]) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def csv_task(path_a: str, path_b: str, path_truth: str, *, id_column: str = "rec_id") -> LinkageTask:
    """Two CSV extracts and a truth CSV whose first two columns are matching ids of A and B.

    Hard negatives are the non-matching pairs with the same name and birth date as written.
    """
    rows_a, rows_b = read_rows(path_a), read_rows(path_b)
    index_a = _index(rows_a, id_column, path_a)
    index_b = _index(rows_b, id_column, path_b)
    pairs = []
    with open(path_truth, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        for line, row in enumerate(reader, start=1):
            if len(row) < 2:
                raise ValueError(f"{path_truth}, line {line}: expected two ids, got {row!r}")
            if line == 1 and row[0] not in index_a:
                continue  # header
            try:
                pairs.append((index_a[row[0]], index_b[row[1]]))
            except KeyError as exc:
                raise ValueError(f"{path_truth}, line {line}: id {exc.args[0]!r} is not in the extracts") from None
    true = set(pairs)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j, rec in enumerate(rows_b):
        groups[(rec.get("name", ""), rec.get("birth_date", ""))].append(j)
    same = [
        (i, j)
        for i, rec in enumerate(rows_a)
        if rec.get("name")
        for j in groups.get((rec.get("name", ""), rec.get("birth_date", "")), ())
        if (i, j) not in true
    ]
    return LinkageTask(f"{path_a} vs {path_b}", rows_a, rows_b, _pairs(pairs), {SAME_NAME_AND_BIRTH: _pairs(same)})


def _index(rows: list[dict[str, str]], id_column: str, path: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, row in enumerate(rows):
        if id_column not in row:
            raise ValueError(f"{path}: no {id_column!r} column (columns: {list(row)})")
        if row[id_column] in index:
            raise ValueError(f"{path}, data row {i + 1}: duplicate id {row[id_column]!r}")
        index[row[id_column]] = i
    return index
