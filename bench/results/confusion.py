"""Classification extras of a report: each model's confusion matrix (summed over sessions and
seeds, rows normalised) as a figure, and per-session accuracy / balanced accuracy as a table, for
records whose task stores a ``confusion`` metric (e.g. handwriting_character)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.results.records import Record, atomic_write_text


def _with_confusion(records: list[Record]) -> list[Record]:
    return [r for r in records if r.trained and r.sessions and "confusion" in r.sessions[0].metrics]


def session_table(records: list[Record]) -> pd.DataFrame:
    """One row per model, dataset, seed and session: accuracy and balanced accuracy."""
    rows = [{"model": r.label, "dataset": r.dataset, "seed": r.seed, "session": s.recording_id,
             "accuracy": s.metrics.get("accuracy"), "balanced_accuracy": s.metrics.get("balanced_accuracy"),
             "n_test": s.metrics.get("n_samples")}
            for r in _with_confusion(records) for s in r.sessions]
    return pd.DataFrame(rows)


def plot_confusions(records: list[Record], out_dir: Path) -> list[Path]:
    """``confusion_<dataset>.png`` (one panel per model) and ``sessions.md``; nothing without confusions.
    Axis labels: the task class's ``class_names`` when it declares them, else class indices."""
    from bench import registry

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.results.figures import save_figure

    recs = _with_confusion(records)
    if not recs:
        return []
    out_dir = Path(out_dir)
    written = []
    for dataset in sorted({r.dataset for r in recs}):
        mats: dict[str, np.ndarray] = {}
        of_dataset = [r for r in recs if r.dataset == dataset]
        class_names = getattr(registry.tasks.get(of_dataset[0].task), "class_names", None)
        for r in of_dataset:
            total = sum(np.asarray(s.metrics["confusion"], float) for s in r.sessions)
            mats[r.label] = mats.get(r.label, 0) + total
        n = len(mats)
        cols = min(n, 4)
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
        for ax, (label, m) in zip(axes.flat, mats.items()):
            norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
            ax.imshow(norm, vmin=0, vmax=1, cmap="viridis")
            ax.grid(False)
            acc = np.trace(m) / max(m.sum(), 1)
            ax.set_title(f"{label} ({acc:.1%})", fontsize=9)
            names = class_names or tuple(str(i) for i in range(m.shape[0]))
            ax.set_xticks(range(len(names)), names, fontsize=5)
            ax.set_yticks(range(len(names)), names, fontsize=5)
            ax.set_xlabel("decoded", fontsize=8)
            ax.set_ylabel("attempted", fontsize=8)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.suptitle(f"{dataset}: confusion over test trials of all sessions (rows normalised)", fontsize=10)
        fig.tight_layout()
        path = save_figure(fig, out_dir / f"confusion_{dataset}.png", dpi=120)
        plt.close(fig)
        written.append(path)
    table = session_table(records)
    md = out_dir / "sessions.md"
    atomic_write_text(md, "# Per-session scores\n\n" + table.to_markdown(index=False, floatfmt=".4f") + "\n")
    return [*written, md]
