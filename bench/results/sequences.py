"""Sequence-task extras of a report (speech_phonemes): PER pooled over sessions with a bootstrap
interval over sentences, and a figure of decoded vs true phoneme sequences.

Built from the per-sentence edit distances and reference lengths and the few decoded examples
that the task stores in each session's metrics (``bench.tasks.speech``), so a report never needs
the predictions again. Pooled PER of one run = summed edit distance over summed reference length
over all its sessions' test sentences (the field's convention). A cell over several seeds: the
mean of the seeds' pooled PERs (their SD beside it), and a 95 % percentile bootstrap interval
resampling test sentences (each sentence's distance averaged over the seeds, so the interval is
the sentence-sampling uncertainty of that mean; seed-to-seed spread is the SD). Records without
per-sentence scores (older ones) are left out.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from bench.metrics.sequence import ratio_bootstrap_ci
from bench.results.figures import save_figure
from bench.results.records import Record, atomic_write_text

N_BOOTSTRAP = 10_000  # as speechBCI (FACTS.md)


def _with_sentences(records: list[Record]) -> list[Record]:
    return [r for r in records if r.trained and r.status != "failed" and r.sessions
            and all("sentence_edit_distance" in s.metrics for s in r.sessions)]


def pooled_frame(records: list[Record]) -> pd.DataFrame:
    """One row per (model, dataset): pooled PER mean over seeds, SD over seeds, bootstrap interval
    over sentences, seeds, sentences, training seconds and peak training memory (when recorded)."""
    cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in _with_sentences(records):
        cells[(r.label, r.dataset)].append(r)
    rows = []
    for (label, dataset), recs in cells.items():
        per_seed, dists = [], []
        for r in recs:
            d = np.concatenate([np.asarray(s.metrics["sentence_edit_distance"], float) for s in r.sessions])
            length = np.concatenate([np.asarray(s.metrics["sentence_length"], float) for s in r.sessions])
            per_seed.append(d.sum() / length.sum())
            dists.append(d)
        if len({d.size for d in dists}) > 1:  # seeds scored different test sets: no sentence pairing
            continue
        mean_d = np.mean(dists, axis=0)
        low, high = ratio_bootstrap_ci(mean_d, length, n_resamples=N_BOOTSTRAP, seed=0)
        peaks = [s.fit.get("peak_rss_mb") for r in recs for s in r.sessions if s.fit.get("peak_rss_mb")]
        rows.append({
            "model": label, "dataset": dataset, "pooled_per": float(np.mean(per_seed)),
            "per_sd_over_seeds": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else np.nan,
            "per_ci_low": low, "per_ci_high": high, "n_seeds": len(recs), "n_sentences": int(mean_d.size),
            "per_by_seed": " ".join(f"{r.seed}:{p:.4f}" for r, p in sorted(zip(recs, per_seed), key=lambda t: t[0].seed)),
            "train_seconds": float(np.sum([r.train_seconds for r in recs])),
            "peak_train_rss_mb": float(np.max(peaks)) if peaks else np.nan,
        })
    return pd.DataFrame(rows)


def pooled_markdown(df: pd.DataFrame) -> str:
    """The pooled PER table, in %, with what its columns mean."""
    show = pd.DataFrame({
        "model": df["model"], "dataset": df["dataset"],
        "pooled PER %": [f"{100 * v:.2f}" for v in df["pooled_per"]],
        "95 % CI (sentences)": [f"[{100 * a:.2f}, {100 * b:.2f}]" for a, b in zip(df["per_ci_low"], df["per_ci_high"])],
        "SD over seeds": ["-" if np.isnan(v) else f"{100 * v:.2f}" for v in df["per_sd_over_seeds"]],
        "seeds": df["n_seeds"], "test sentences": df["n_sentences"],
        "train s (all seeds)": [f"{v:.0f}" for v in df["train_seconds"]],
        "peak train RSS MB": ["-" if np.isnan(v) else f"{v:.0f}" for v in df["peak_train_rss_mb"]],
    })
    return ("## Pooled phoneme error rate\n\n"
            "Summed edit distance over summed reference length over every session's test sentences (lower is "
            "better); mean over seeds; 95 % CI: percentile bootstrap over test sentences "
            f"({N_BOOTSTRAP} resamples, each sentence's distance averaged over seeds); SD over seeds' pooled PER. "
            "Peak train RSS: the training process's resident memory, sampled during the fit (includes the loaded "
            "recordings).\n\n" + show.to_markdown(index=False) + "\n")


def plot_decoded(records: list[Record], out_dir: Path, n_sentences: int = 3) -> list[Path]:
    """``decoded_<dataset>.png``: for the first few stored test sentences of the first session
    (lowest seed of each model), the true phoneme sequence and each model's greedy decoding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    recs = [r for r in _with_sentences(records) if r.sessions[0].metrics.get("examples")]
    for dataset in sorted({r.dataset for r in recs}):
        first: dict[str, Record] = {}
        for r in sorted((r for r in recs if r.dataset == dataset), key=lambda r: r.seed):
            first.setdefault(r.label, r)
        examples = {label: r.sessions[0].metrics["examples"][:n_sentences] for label, r in first.items()}
        dists = {label: r.sessions[0].metrics["sentence_edit_distance"] for label, r in first.items()}
        lengths = next(iter(first.values())).sessions[0].metrics["sentence_length"]
        n = min(len(e) for e in examples.values())
        if n == 0:
            continue
        session = next(iter(first.values())).sessions[0].recording_id
        lines_per = 1 + len(examples)
        fig, ax = plt.subplots(figsize=(15, 0.32 * (n * (lines_per + 1)) + 0.8))
        ax.axis("off")
        y = 1.0
        step = 1.0 / (n * (lines_per + 1) + 1)
        for i in range(n):
            truth = next(iter(examples.values()))[i]
            ax.text(0, y, f"sentence at {truth['trial_start']:.2f} s   true:", fontsize=8, weight="bold",
                    va="top", transform=ax.transAxes)
            ax.text(0.22, y, _wrap(truth["true"]), fontsize=7, family="monospace", va="top", transform=ax.transAxes)
            y -= step
            for label, ex in examples.items():
                ax.text(0.02, y, f"{label} (PER {100 * dists[label][i] / max(lengths[i], 1):.0f} %):", fontsize=8,
                        va="top", transform=ax.transAxes)
                ax.text(0.22, y, _wrap(ex[i]["decoded"]), fontsize=7, family="monospace", va="top",
                        color="tab:blue", transform=ax.transAxes)
                y -= step
            y -= step
        ax.set_title(f"{dataset}: decoded vs true phonemes, test sentences of {session} (seed {min(r.seed for r in first.values())})",
                     fontsize=10, loc="left")
        try:
            written.append(save_figure(fig, Path(out_dir) / f"decoded_{dataset}.png", dpi=110))  # atomic
        finally:
            plt.close(fig)
    return written


def _wrap(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def sequence_report(records: list[Record], out_dir: Path, model_order: list[str] | None = None) -> tuple[str, list[Path]]:
    """The pooled table (markdown, also written as pooled.csv) and the decoded figures; ('', [])
    when no record holds per-sentence scores. Rows follow ``model_order`` (the suite's)."""
    df = pooled_frame(records)
    if df.empty:
        return "", []
    rank = {m: i for i, m in enumerate(model_order or [])}
    df = df.sort_values(["model", "dataset"], key=lambda col: col.map(lambda v: (rank.get(v, len(rank)), v))
                        if col.name == "model" else col).reset_index(drop=True)
    csv = Path(out_dir) / "pooled.csv"
    atomic_write_text(csv, df.to_csv(index=False))
    return pooled_markdown(df), [csv, *plot_decoded(records, out_dir)]
