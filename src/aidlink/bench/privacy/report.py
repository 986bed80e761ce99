"""Tables and JSON for `aidlink bench privacy`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from aidlink.bench.privacy.scoring import Baseline, Score
from aidlink.bench.privacy.view import ATTRIBUTES


def percent(x: float) -> str:
    return f"{100 * x:5.1f}%"


def print_table(
    label: str,
    records: int,
    rows: dict[str, dict[str, Score]],
    out: TextIO,
    baselines: dict[str, Baseline] | None = None,
) -> None:
    """Two tables, attack rows x attribute columns: raw 'recall (precision)', then the same
    attacks counted against chance, 'excess (chance recall)'; then the no-data guessers."""
    width = max([len("attack"), len("public: most frequent")] + [len(a) for a in rows])

    def table(title: str, cell: Callable[[Score], str]) -> None:
        out.write(f"\n{label} — {records} records; {title} per attribute\n")
        out.write(f"{'attack':<{width}} | " + " | ".join(f"{a:^17}" for a in ATTRIBUTES) + "\n")
        out.write("-" * width + "-|-" + "-|-".join("-" * 17 for _ in ATTRIBUTES) + "\n")
        for attack, scores in rows.items():
            out.write(f"{attack:<{width}} | " + " | ".join(f"{cell(scores[a]):>17}" for a in ATTRIBUTES) + "\n")

    table("recall (precision)", lambda s: f"{percent(s.recall)} ({percent(s.precision)})")
    table(
        "excess over chance = recall - recall of the same guesses given to random records (chance recall)",
        lambda s: f"{signed(s.excess)} ({percent(s.chance_recall)})",
    )
    if baselines:
        out.write("no data, public frequencies only: recall of guessing the most frequent value for everyone; ")
        out.write("precision of guessing in proportion to public frequency\n")
        for name, value in (
            ("public: most frequent", lambda b: percent(b.most_frequent_recall)),
            ("public: proportional", lambda b: percent(b.proportional_precision)),
        ):
            out.write(f"{name:<{width}} | " + " | ".join(f"{value(baselines[a]):>17}" for a in ATTRIBUTES) + "\n")


def signed(x: float) -> str:
    return f"{100 * x:+5.1f}%"


def print_sweep(results: list[Any], out: TextIO) -> None:
    """Size sweep: per schema and attack, the worst attribute's recall at each size."""
    out.write("\nsize sweep — highest recall / highest excess over chance, over the four attributes, per attack\n")
    for result in results:
        sizes = sorted(result.by_size)
        out.write(f"{result.label}: " + ", ".join(str(s) for s in sizes) + " records\n")
        attacks = list(result.by_size[sizes[0]])
        for attack in attacks:
            cells = [
                f"{percent(max(sc.recall for sc in result.by_size[s][attack].values()))}"
                f" / {signed(max(sc.excess for sc in result.by_size[s][attack].values()))}"
                for s in sizes
            ]
            out.write(f"  {attack:<28} " + "  ".join(cells) + "\n")


def write_json(document: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
