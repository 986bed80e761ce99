"""The quality report: a text table per method side by side, and a PNG plot."""

from __future__ import annotations

from typing import TextIO

from aidlink.bench.quality.metrics import Evaluation


def print_table(evaluations: list[Evaluation], out: TextIO, *, recommended: float | None = None) -> None:
    """Precision / recall / F1 / pair completeness per threshold, one column group per method."""
    names = [e.method for e in evaluations]
    out.write("threshold  " + "  ".join(f"{n[:33]:^33}" for n in names) + "\n")
    out.write("           " + "  ".join(f"{'P':>7} {'R':>7} {'F1':>7} {'PC':>7} " for _ in names) + "\n")
    for i, row in enumerate(evaluations[0].rows):
        mark = " *" if recommended is not None and abs(row.threshold - recommended) < 1e-9 else "  "
        cells = []
        for e in evaluations:
            r = e.rows[i]
            cells.append(f"{r.precision:7.4f} {r.recall:7.4f} {r.f1:7.4f} {r.pair_completeness:7.4f} ")
        out.write(f"{row.threshold:8.2f}{mark} " + "  ".join(cells) + "\n")
    if recommended is not None:
        out.write("(* recommended threshold of the default schema)\n")


def print_summary(evaluation: Evaluation, out: TextIO, threshold: float | None = None) -> None:
    """F1 at ``threshold`` (or the best), and the hard-negative false-match rate there."""
    row = evaluation.best if threshold is None else evaluation.at(threshold)
    best = evaluation.best
    where = "best" if threshold is None else f"at {threshold:.2f}"
    out.write(
        f"{evaluation.method}: {where}: P={row.precision:.4f} R={row.recall:.4f} F1={row.f1:.4f} "
        f"PC={row.pair_completeness:.4f} links={row.links} true pairs={evaluation.true_pairs}; "
        f"best F1={best.f1:.4f} at {best.threshold:.2f}\n"
    )
    for kind, total in evaluation.hard_negative_pairs.items():
        linked = row.hard_negative_links.get(kind, 0)
        rate = f"{linked / total:.4f}" if total else "n/a"
        out.write(f"    hard negatives ({kind}): {linked} of {total} pairs linked, false-match rate {rate}\n")


def write_plot(evaluations: list[Evaluation], path: str, title: str, recommended: float | None = None) -> None:
    """Precision and recall against threshold, one colour per method (matplotlib, the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for evaluation, colour in zip(
        evaluations, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:grey")
    ):
        ts = [r.threshold for r in evaluation.rows]
        ax.plot(ts, [r.precision for r in evaluation.rows], "-", color=colour, label=f"{evaluation.method} precision")
        ax.plot(ts, [r.recall for r in evaluation.rows], "--", color=colour, label=f"{evaluation.method} recall")
    if recommended is not None:
        ax.axvline(recommended, color="black", linewidth=0.8, linestyle=":", label=f"recommended {recommended:.2f}")
    ax.set_xlabel("Dice threshold")
    ax.set_ylabel("precision / recall")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
