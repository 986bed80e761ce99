"""Tables and JSON for `aidlink bench privacy`."""

from __future__ import annotations

import json
from typing import Any, TextIO

from aidlink.bench.privacy.scoring import Score
from aidlink.bench.privacy.view import ATTRIBUTES


def percent(x: float) -> str:
    return f"{100 * x:5.1f}%"


def print_table(label: str, records: int, rows: dict[str, dict[str, Score]], out: TextIO) -> None:
    """One table: attack rows x attribute columns, each 'recall (precision)'."""
    out.write(f"\n{label} — {records} records; recall (precision) per attribute\n")
    width = max([len("attack")] + [len(a) for a in rows])
    out.write(f"{'attack':<{width}} | " + " | ".join(f"{a:^17}" for a in ATTRIBUTES) + "\n")
    out.write("-" * width + "-|-" + "-|-".join("-" * 17 for _ in ATTRIBUTES) + "\n")
    for attack, scores in rows.items():
        cells = [f"{percent(scores[a].recall)} ({percent(scores[a].precision)})" for a in ATTRIBUTES]
        out.write(f"{attack:<{width}} | " + " | ".join(f"{c:>17}" for c in cells) + "\n")


def print_sweep(results: list[Any], out: TextIO) -> None:
    """Size sweep: per schema and attack, the worst attribute's recall at each size."""
    out.write("\nsize sweep — highest recall over the four attributes, per attack\n")
    for result in results:
        sizes = sorted(result.by_size)
        out.write(f"{result.label}: " + ", ".join(str(s) for s in sizes) + " records\n")
        attacks = list(result.by_size[sizes[0]])
        for attack in attacks:
            cells = [percent(max(sc.recall for sc in result.by_size[s][attack].values())) for s in sizes]
            out.write(f"  {attack:<28} " + "  ".join(cells) + "\n")


def write_json(document: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
