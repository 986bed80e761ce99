"""``aidlink bench privacy``: the attacks a curious matcher can mount on what it holds, measured.

The matcher's view of a synthetic dataset (encodings, blocking tokens in the order sent,
attributes, references; see :mod:`.view`) is attacked with public knowledge drawn from a
population of another seed (:mod:`.knowledge`):

- ``frequency: tokens`` / ``frequency: encodings`` — rank-matching how often identical tokens or
  encodings occur with how often plaintext values occur (:mod:`.frequency`);
- ``pattern mining`` — frequent bit patterns → name characters → surnames and names, in the style
  of Christen et al. (:mod:`.pattern_mining`);
- ``graph matching NN%`` — similarity-graph matching against a plaintext dataset sharing NN % of
  the persons (Vidanage et al. 2020; :mod:`.graph_matching`);
- ``known pairs K, NN%`` — the same plaintext, and the person behind K of the matcher's records
  known (an insider's leak): every record matched by its similarity to the K known ones
  (:mod:`.known_pairs`).

For each attack and each of surname, full name, birth date and ID number: recall (the share of
records whose value is correctly re-identified) and precision (the share of guesses that are
right), per schema and hardening option (:mod:`.schemas`), and optionally per dataset size.
Python: ``run_privacy_bench("chinese-person-v3+balance", 20000, seed=1, aux_seed=2)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TextIO

import numpy as np

from aidlink.bench.privacy.frequency import encoding_frequency_attack, token_frequency_attack
from aidlink.bench.privacy.graph_matching import auxiliary_dataset, graph_matching_attack
from aidlink.bench.privacy.knowledge import PublicKnowledge
from aidlink.bench.privacy.known_pairs import known_pairs_attack
from aidlink.bench.privacy.pattern_mining import pattern_mining_attack
from aidlink.bench.privacy.report import print_sweep, print_table, write_json
from aidlink.bench.privacy.schemas import OPTIONS, SchemaSpecError, default_specs, resolve
from aidlink.bench.privacy.scoring import Baseline, Guesses, Score, public_baselines, score
from aidlink.bench.privacy.view import build_view
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.synthetic import SyntheticPopulation

ATTACKS = ("frequency", "pattern", "graph", "known")
DEFAULT_OVERLAPS = (0.05, 0.25, 1.0)
DEFAULT_KNOWN_PAIRS = (10, 100, 1000)
DEFAULT_SEED = 20261127
DEFAULT_AUX_SEED = 77
DEFAULT_RECORDS = 2000
AUX_RECORDS = 20000

Log = Callable[[str], None]


@dataclass
class PrivacyResult:
    """Scores of every attack on one schema: ``by_size[records][attack][attribute]``."""

    label: str
    seed: int
    aux_seed: int
    by_size: dict[int, dict[str, dict[str, Score]]] = field(default_factory=dict)
    seconds: dict[int, dict[str, float]] = field(default_factory=dict)
    baselines: dict[int, dict[str, Baseline]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return max(self.by_size)

    @property
    def scores(self) -> dict[str, dict[str, Score]]:
        """The scores at the largest size measured."""
        return self.by_size[self.records]

    def worst_recall(self, size: int | None = None) -> float:
        """The highest recall any attack reaches on any attribute (the figure to keep <= 1 %)."""
        table = self.by_size[size if size is not None else self.records]
        return max(s.recall for attack in table.values() for s in attack.values())

    def worst_excess(self, size: int | None = None) -> float:
        """The highest recall above chance any attack reaches on any attribute."""
        table = self.by_size[size if size is not None else self.records]
        return max(s.excess for attack in table.values() for s in attack.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.label,
            "seed": self.seed,
            "aux_seed": self.aux_seed,
            "sizes": {
                str(size): {
                    **{
                        attack: {
                            **{attribute: s.to_json() for attribute, s in table.items()},
                            "seconds": round(self.seconds[size][attack], 1),
                        }
                        for attack, table in attacks.items()
                    },
                    "public baselines": {a: b.to_json() for a, b in self.baselines.get(size, {}).items()},
                }
                for size, attacks in sorted(self.by_size.items())
            },
        }


def run_privacy_bench(
    schema_spec: str | LinkageSchema,
    records: int = DEFAULT_RECORDS,
    seed: int = DEFAULT_SEED,
    aux_seed: int = DEFAULT_AUX_SEED,
    *,
    attacks: Sequence[str] = ATTACKS,
    overlaps: Sequence[float] = DEFAULT_OVERLAPS,
    known_pairs: Sequence[int] = DEFAULT_KNOWN_PAIRS,
    sizes: Sequence[int] | None = None,
    aux_records: int | None = None,
    knowledge: PublicKnowledge | None = None,
    log: Log | None = None,
    noise_control: bool = False,
) -> PrivacyResult:
    """Attack the matcher's view of ``records`` synthetic records encoded with ``schema_spec``.

    ``sizes`` (default: just ``records``) repeats the whole measurement at each dataset size.
    ``known_pairs``: how many records' persons the matcher knows, one ``known`` attack per count
    and overlap.
    ``knowledge`` may be passed to share one auxiliary population between calls.
    ``noise_control`` adds, per overlap, graph matching on a copy of the view whose encodings are
    uniform random bits (nothing of any record in them): what the attack gets from no signal."""
    unknown = sorted(set(attacks) - set(ATTACKS))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; attacks are {list(ATTACKS)}")
    choice = resolve(schema_spec)
    say = log or (lambda message: None)
    all_sizes = sorted(set(sizes or [records]))
    if knowledge is None:
        knowledge = PublicKnowledge.generate(aux_records or max(AUX_RECORDS, max(all_sizes)), aux_seed=aux_seed)
    result = PrivacyResult(choice.label, seed, aux_seed)
    population = SyntheticPopulation.generate(max(all_sizes), seed=seed)
    for size in all_sizes:
        began = time.monotonic()
        subset = population if size == len(population.persons) else _first(population, size, seed)
        view, truth, _ = build_view(choice.schema, size, seed=seed, population=subset)
        say(f"{choice.label}: view of {len(view)} records ({time.monotonic() - began:.0f} s)")
        persons = [subset.person(p) for p in truth.person_ids]
        result.baselines[size] = public_baselines(knowledge.attribute_tables(), truth)
        attack_runs: list[tuple[str, Callable[[], Guesses]]] = []
        if "frequency" in attacks:
            attack_runs.append(("frequency: tokens", partial(token_frequency_attack, view, knowledge)))
            attack_runs.append(("frequency: encodings", partial(encoding_frequency_attack, view, knowledge)))
        if "pattern" in attacks:
            attack_runs.append(("pattern mining", partial(pattern_mining_attack, view, knowledge)))
        for overlap in overlaps if {"graph", "known"} & set(attacks) else ():
            plaintext = auxiliary_dataset(persons, overlap, aux_seed=aux_seed, knowledge=knowledge)
            if "graph" in attacks:
                attack_runs.append(
                    (
                        f"graph matching {100 * overlap:g}%",
                        partial(graph_matching_attack, view, plaintext, seed=aux_seed, log=log),
                    )
                )
                if noise_control:
                    noise = replace(view, encodings=_random_bits(view.encodings.shape, seed))
                    attack_runs.append(
                        (
                            f"control: graph {100 * overlap:g}% on random bits",
                            partial(graph_matching_attack, noise, plaintext, seed=aux_seed),
                        )
                    )
            for known in known_pairs if "known" in attacks else ():
                shared = round(size * overlap)
                if known >= shared:  # every shared person known: nothing left to find, a vacuous 0 %
                    say(f"  known pairs {known}, {100 * overlap:g}%: skipped, only {shared} persons are shared")
                    continue
                attack_runs.append(
                    (
                        f"known pairs {known}, {100 * overlap:g}%",
                        partial(known_pairs_attack, view, plaintext, persons, known=known, seed=aux_seed),
                    )
                )
        result.by_size[size], result.seconds[size] = {}, {}
        for name, attack in attack_runs:
            started = time.monotonic()
            scores = score(attack(), truth)
            result.by_size[size][name] = scores
            result.seconds[size][name] = elapsed = time.monotonic() - started
            best = max(scores.values(), key=lambda s: s.recall)
            say(
                f"  {name}: best recall {100 * best.recall:.1f}% (chance {100 * best.chance_recall:.1f}%, "
                f"excess {100 * best.excess:+.1f}%; {elapsed:.0f} s)"
            )
    return result


def _random_bits(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Encodings that carry nothing: one independent uniform random vector per record."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _first(population: SyntheticPopulation, size: int, seed: int) -> SyntheticPopulation:
    """The first ``size`` persons of a population (a smaller dataset of the same people)."""
    persons = population.persons[:size]
    keep = {p.household_id for p in persons}
    households = [h for h in population.households if h.household_id in keep]
    return SyntheticPopulation(persons, households, seed, population.reference_date)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``privacy`` to the ``bench`` subparsers; its handler is :func:`run`."""
    parser = subparsers.add_parser(
        "privacy",
        help="re-identification by a curious matcher: frequency, pattern-mining, graph and known-pair attacks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--schema",
        action="append",
        metavar="SPEC",
        help="schema to attack: a v3 JSON file, a shipped schema name, optionally +OPTION "
        f"(options: {', '.join(OPTIONS)}); repeatable. Default: the default schema plain and with "
        "each option, then every other shipped schema",
    )
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help=f"records the matcher holds (default {DEFAULT_RECORDS})"
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="size sweep: measure at each of these record counts")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the encoded population")
    parser.add_argument("--aux-seed", type=int, default=DEFAULT_AUX_SEED, help="seed of the attacker's population")
    parser.add_argument(
        "--aux-records",
        type=int,
        default=None,
        help=f"size of the attacker's population (default max({AUX_RECORDS}, largest size))",
    )
    parser.add_argument(
        "--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS), help="attacks to run (default all)"
    )
    parser.add_argument(
        "--overlaps",
        type=float,
        nargs="+",
        default=list(DEFAULT_OVERLAPS),
        help="graph matching and known pairs: shares of the encoded persons in the attacker's plaintext "
        "(default 0.05 0.25 1)",
    )
    parser.add_argument(
        "--known-pairs",
        type=int,
        nargs="+",
        default=list(DEFAULT_KNOWN_PAIRS),
        metavar="K",
        help="known pairs: how many of the matcher's records it knows the person of, one row per K "
        "(default 10 100 1000)",
    )
    parser.add_argument(
        "--noise-control",
        action="store_true",
        help="also run graph matching on random-bit encodings (no signal): the chance level of that attack",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    specs = args.schema or default_specs()
    for name, value in (("--records", args.records), *((f"--sizes {s}", s) for s in args.sizes or [])):
        if value < 10:
            raise SystemExit(f"aidlink bench privacy: {name} must be at least 10")
    if any(not 0 < o <= 1 for o in args.overlaps):
        raise SystemExit("aidlink bench privacy: --overlaps must be in (0, 1]")
    if any(k < 1 for k in args.known_pairs):
        raise SystemExit("aidlink bench privacy: --known-pairs must be at least 1")
    try:
        for spec in specs:
            resolve(spec)
    except SchemaSpecError as exc:
        raise SystemExit(f"aidlink bench privacy: {exc}") from None
    sizes = args.sizes or [args.records]
    started = time.monotonic()
    knowledge = PublicKnowledge.generate(args.aux_records or max(AUX_RECORDS, max(sizes)), aux_seed=args.aux_seed)

    def log(message: str) -> None:
        out.write(message + "\n")
        out.flush()

    log(f"attacker's public knowledge: population of {knowledge.size} (seed {args.aux_seed})")
    results = []
    for spec in specs:
        result = run_privacy_bench(
            spec,
            max(sizes),
            args.seed,
            args.aux_seed,
            attacks=args.attacks,
            overlaps=args.overlaps,
            known_pairs=args.known_pairs,
            sizes=sizes,
            knowledge=knowledge,
            log=log,
            noise_control=args.noise_control,
        )
        results.append(result)
    for result in results:
        print_table(result.label, result.records, result.scores, out, result.baselines.get(result.records))
    if len(sizes) > 1:
        print_sweep(results, out)
    if args.json:
        write_json({"results": [r.to_json() for r in results]}, args.json)
        out.write(f"\njson: {args.json}\n")
    out.write(f"total {time.monotonic() - started:.0f} s\n")
    return 0
