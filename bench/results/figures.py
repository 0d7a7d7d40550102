"""Figures from the summary frame: metric per dataset, and accuracy against per-chunk latency.

Untrained rows (``needs_gpu`` models recorded without a GPU) have latency but no metric: they are
left out of the bars and drawn as labelled vertical lines at their latency in the scatter.
Figures are written whole or not at all (:func:`save_figure`), like records and tables.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.results.records import atomic_write  # noqa: E402


def save_figure(fig, path: Path, dpi: int) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically: a hidden temp file in the same folder, fsync, rename.
    An interrupted or failed write (a kill, a full disk) leaves the previous figure, or none, and no
    temp file; the file gets the user's umask permissions (mkstemp alone makes it 0600)."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)

    path = Path(path)
    atomic_write(path, write)
    return path


def plot_summary(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sns.set_theme(style="whitegrid", context="paper")
    paths = []
    models = list(df["model"].cat.categories)
    palette = dict(zip(models, sns.color_palette("tab10" if len(models) <= 10 else "husl", len(models))))
    untrained = df[df["n_sessions"] == 0]
    df = df[df["n_sessions"] > 0]
    if df.empty:
        return paths
    models = [m for m in models if m in set(df["model"])]
    datasets = [d for d in df["dataset"].cat.categories if d in set(df["dataset"])]

    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(datasets) * max(1, len(models)) / 3, 3.2))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        sub = df[df["model"] == model].set_index("dataset")
        xs = [j + (i - (len(models) - 1) / 2) * width for j, d in enumerate(datasets) if d in sub.index]
        ys = [sub.loc[d, "mean"] for d in datasets if d in sub.index]
        es = [sub.loc[d, "sd"] for d in datasets if d in sub.index]
        ax.bar(xs, ys, width, yerr=es, label=model, color=palette[model], capsize=2)
    ax.set_xticks(range(len(datasets)), datasets, rotation=20)
    metrics = sorted(set(df["metric"]))
    ax.set_ylabel(" / ".join(metrics) + " (mean ± SD over sessions)")
    lo = float(np.nanmin(df["mean"] - df["sd"].fillna(0.0)))  # one run: no SD
    ax.set_ylim(min(0.0, lo), 1.0)
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    p = save_figure(fig, out_dir / "metric_by_dataset.png", dpi=150)
    plt.close(fig)
    paths.append(p)

    if df["cpu_median_ms"].notna().any():
        per_model = df.groupby("model", observed=True).agg(mean=("mean", "mean"), lat=("cpu_median_ms", "median"),
                                                           params=("n_parameters", "median"))
        fig, ax = plt.subplots(figsize=(4.2, 3.2))
        for model, row in per_model.iterrows():
            ax.scatter(row["lat"], row["mean"], s=30 + 60 * np.log10(max(row["params"], 10)) / 7, color=palette[model])
            ax.annotate(model, (row["lat"], row["mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for model, lat in untrained.groupby("model", observed=True)["cpu_median_ms"].median().dropna().items():
            ax.axvline(lat, color=palette[model], ls="--", lw=0.8)
            ax.annotate(f"{model} (untrained: needs GPU)", (lat, 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=6, xytext=(-8, 0), textcoords="offset points", va="bottom")
        ax.set_xscale("log")
        ax.set_xlabel("CPU latency per chunk, median (ms, log)")
        ax.set_ylabel(f"mean {' / '.join(metrics)} over datasets")
        fig.tight_layout()
        p = save_figure(fig, out_dir / "accuracy_vs_latency.png", dpi=150)
        plt.close(fig)
        paths.append(p)
    return paths
