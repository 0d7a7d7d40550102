"""Tables and figures of the ``finetune`` protocol, rebuilt from its records by ``bench report``.

- ``efficiency``: test metric per model, mode and training-set size, mean and 95 % CI (Student t)
  over sessions x seeds;
- ``transfer_vs_scratch``: each pretrained adaptation (UI, FT) against each from-scratch model at
  the same size, paired by session and seed: mean difference, its 95 % CI, paired t-test p value
  (whatever the answer: a difference whose CI spans 0 is reported as such);
- ``adaptation_curve``: with ``eval_every``, the test metric against epochs, gradient steps and
  seconds of adaptation (compute efficiency), mean over sessions x seeds;
- figures ``efficiency.png`` (metric against trials, one panel per dataset) and
  ``adaptation_curve.png`` (metric against gradient steps at the largest size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench.protocols import Table
from bench.results.records import Record


def efficiency_frame(records: list[Record]) -> pd.DataFrame:
    """One row per adaptation: model, dataset, session, seed, mode, size, metric, steps, seconds."""
    rows = []
    for r in records:
        key = (r.scores.get("pretrained") or {}).get("key")
        for s in r.sessions:
            for p in s.points:
                rows.append({"model": r.label, "dataset": r.dataset, "session": s.recording_id, "seed": r.seed,
                             "mode": p.setting["mode"], "train_trials": str(p.setting["train_trials"]),
                             "n_train": p.setting["n_train"], "metric": r.metric, "value": p.metrics.get(r.metric),
                             "steps": p.scores.get("steps"), "train_s": p.train_seconds, "pretrained_key": key})
    return pd.DataFrame(rows)


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and the 95 % Student-t interval of the mean (NaN bounds for one value)."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half


def summary_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (ds, model, mode, size), g in df.groupby(["dataset", "model", "mode", "train_trials"], sort=False):
        m, lo, hi = mean_ci(g["value"].to_numpy())
        out.append({"dataset": ds, "model": model, "mode": mode, "train_trials": size, "n_train": int(g["n_train"].median()),
                    "n": len(g), "mean": m, "ci_low": lo, "ci_high": hi, "steps": float(g["steps"].mean()),
                    "train_s": float(g["train_s"].mean())})
    frame = pd.DataFrame(out)
    return frame.sort_values(["dataset", "model", "mode", "n_train"], kind="stable") if not frame.empty else frame


def paired_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Each transfer (model, UI/FT) minus each from-scratch model, paired by session and seed: per
    dataset, and over all datasets together (dataset "all", more pairs: sessions of every dataset)."""
    per = _paired(df)
    if df["dataset"].nunique() < 2:
        return per
    return pd.concat([per, _paired(df.assign(dataset="all", session=df["dataset"] + "/" + df["session"]))],
                     ignore_index=True)


def _paired(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    scratch = df[df["mode"] == "scratch"]
    transfer = df[df["mode"] != "scratch"]
    for (ds, model, mode, size), g in transfer.groupby(["dataset", "model", "mode", "train_trials"], sort=False):
        for base, h in scratch[(scratch["dataset"] == ds) & (scratch["train_trials"] == size)].groupby("model"):
            pair = g.merge(h, on=["session", "seed"], suffixes=("", "_base"))
            if pair.empty:
                continue
            diff = (pair["value"] - pair["value_base"]).to_numpy(float)
            m, lo, hi = mean_ci(diff)
            p = float(stats.ttest_rel(pair["value"], pair["value_base"]).pvalue) if diff.size > 1 and diff.std() > 0 \
                else float("nan")
            out.append({"dataset": ds, "train_trials": size, "transfer": f"{model} ({mode})", "scratch": base,
                        "n_pairs": diff.size, "mean_diff": m, "ci_low": lo, "ci_high": hi, "p_paired_t": p,
                        "verdict": _verdict(lo, hi)})
    return pd.DataFrame(out)


def _verdict(lo: float, hi: float) -> str:
    if np.isnan(lo):
        return "one pair: no test"
    return "transfer better" if lo > 0 else "scratch better" if hi < 0 else "no clear difference (CI spans 0)"


def curve_frame(records: list[Record]) -> pd.DataFrame:
    rows = []
    for r in records:
        for s in r.sessions:
            for p in s.points:
                for c in p.scores.get("curve", []):
                    rows.append({"model": r.label, "dataset": r.dataset, "mode": p.setting["mode"],
                                 "train_trials": str(p.setting["train_trials"]), "epoch": c["epoch"],
                                 "steps": c["steps"], "seconds": c["seconds"], "value": c.get(r.metric)})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return (df.groupby(["dataset", "model", "mode", "train_trials", "epoch"], sort=False)
              .agg(steps=("steps", "mean"), seconds=("seconds", "mean"), value=("value", "mean"), n=("value", "size"))
              .reset_index())


def tables(records: list[Record], suite) -> list[Table]:
    df = efficiency_frame(records)
    if df.empty:
        return [Table("efficiency", "No finetune records yet.\n", df)]
    metric = df["metric"].iloc[0]
    summ, paired, curve = summary_frame(df), paired_frame(df), curve_frame(records)
    keys = sorted({k for k in df["pretrained_key"].dropna()})
    head = (f"# Transfer: test {metric} against training trials of the new session\n\nMean and 95 % CI (Student t) over "
            f"sessions x seeds; modes: scratch (no pretraining), ui (unit identification), ft (UI, then all weights). "
            f"Pretraining checkpoints (run keys): {', '.join(keys) or 'none'}.\n\n")
    out = [Table("efficiency", head + summ.to_markdown(index=False, floatfmt=".3f") + "\n", summ)]
    if not paired.empty:
        out.append(Table("transfer_vs_scratch", "# Pretrained adaptation minus from-scratch training, paired by session "
                         "and seed\n\nMean difference of the test metric, its 95 % CI and the paired t-test p value.\n\n"
                         + paired.to_markdown(index=False, floatfmt=".3f") + "\n", paired))
    if not curve.empty:
        out.append(Table("adaptation_curve", "# Test metric along the adaptation (compute efficiency)\n\nMean over "
                         "sessions x seeds at each scored epoch: gradient steps and seconds spent so far.\n\n"
                         + curve.to_markdown(index=False, floatfmt=".3f") + "\n", curve))
    return out


def figures(records: list[Record], suite, out: Path) -> list[Path]:
    """``efficiency.png`` and (with curves) ``adaptation_curve.png``, written atomically into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.results.figures import save_figure

    df = efficiency_frame(records)
    if df.empty:
        return []
    summ = summary_frame(df)
    written = []
    datasets = list(dict.fromkeys(summ["dataset"]))
    # one colour per model and mode in every panel, one legend for the figure
    series = list(dict.fromkeys(zip(summ["model"], summ["mode"])))
    colour = {s: f"C{i % 10}" for i, s in enumerate(series)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for (model, mode), g in summ[summ["dataset"] == ds].groupby(["model", "mode"], sort=False):
            g = g.sort_values("n_train")
            err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]])
            ax.errorbar(g["n_train"], g["mean"], yerr=np.nan_to_num(err), marker="o", capsize=3,
                        color=colour[(model, mode)], label=f"{model} ({mode})")
        ax.set_xscale("log", base=2)
        ax.set_title(ds)
        ax.set_xlabel("training trials of the new session")
        ax.set_ylabel(f"test {df['metric'].iloc[0]} (mean, 95 % CI)")
    handles = [plt.Line2D([], [], color=colour[s], marker="o", label=f"{s[0]} ({s[1]})") for s in series]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(series), 5), fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    written.append(save_figure(fig, Path(out) / "efficiency.png", 120))
    plt.close(fig)
    curve = curve_frame(records)
    if not curve.empty:
        fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
        for ax, ds in zip(axes[0], datasets):
            c = curve[curve["dataset"] == ds]
            if c.empty:
                continue
            top = max(c["train_trials"], key=lambda s: float("inf") if s == "all" else float(s))
            for (model, mode), g in c[c["train_trials"] == top].groupby(["model", "mode"], sort=False):
                ax.plot(g["steps"], g["value"], marker=".", label=f"{model} ({mode})")
            ax.set_title(f"{ds} ({top} trials)")
            ax.set_xlabel("gradient steps of adaptation")
            ax.set_ylabel(f"test {df['metric'].iloc[0]}")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        written.append(save_figure(fig, Path(out) / "adaptation_curve.png", 120))
        plt.close(fig)
    return written
