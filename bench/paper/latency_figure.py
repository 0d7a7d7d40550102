"""The paper's latency figure: per-chunk latency against parameter count, CPU and GPU.

Points come from records alone, first found wins per (model, device): results/latency (the
side-by-side latency protocol), results/latency/gpu and gpu_train (``scripts/gpu_check.py`` on a
GPU), then the NHP leaderboard's own measurements (results/nhp). Only 50 ms chunks are used, the paper's
chunk. Published points are drawn beside: where the source gives a parameter count as a cross,
otherwise as a labelled level line at the published latency. The real-time budget is a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from bench.paper.cells import folder_records
from bench.paper.published import published
from bench.paper.sections import SectionOutput, md_table, section

# (results sub-folder, what it is), in order of preference.
SOURCES = (("latency", "latency protocol"), ("latency/gpu", "GPU check (latency part)"),
           ("latency/gpu_train", "GPU check (training part)"), ("nhp", "NHP leaderboard runs"))
DEVICES = (("cpu", "CPU"), ("cuda", "GPU"))
FIGURE = "latency_vs_params.png"


@dataclass
class Point:
    label: str
    device: str
    params: int
    median_ms: float
    p99_ms: float
    threads: object
    source: str


def collect_points(results: Path, chunk_ms: float) -> tuple[list[Point], list[str]]:
    points: dict[tuple[str, str], Point] = {}
    notes = []
    for folder, what in SOURCES:
        records, missing = folder_records(results, folder)
        if missing:
            notes.append(f"{what}: {missing}")
        for rec in records:
            if rec.status != "ok":
                continue
            for device, stats in rec.latency.items():
                if abs(float(stats.get("chunk_ms", -1)) - chunk_ms) > 1e-6 or (rec.label, device) in points:
                    continue
                points[(rec.label, device)] = Point(rec.label, device, rec.n_parameters, float(stats["median_ms"]),
                                                    float(stats["p99_ms"]), stats.get("threads"), f"results/{folder}")
    return list(points.values()), notes


@section("latency", "Per-chunk latency against parameters (the paper's latency figure)", order=20)
def render(results: Path) -> SectionOutput:
    pub = published().latency
    points, notes = collect_points(results, pub.chunk_ms)
    devices = [(d, name) for d, name in DEVICES if any(p.device == d for p in points) or
               any(q.device == d for q in pub.points)]
    all_params = [p.params for p in points] + [q.params for q in pub.points if q.params]
    x_range = (min(all_params, default=1e3) / 2, max(all_params, default=1e7) * 2)
    fig, axes = plt.subplots(1, len(devices), figsize=(5.2 * len(devices), 4.0), squeeze=False)
    for ax, (device, name) in zip(axes[0], devices):
        mine = [p for p in points if p.device == device]
        for p in mine:
            ax.scatter(p.params, p.median_ms, s=22, color="tab:blue", zorder=3)
            ax.annotate(p.label, (p.params, p.median_ms), fontsize=6, xytext=(3, 2), textcoords="offset points")
        levels: dict[float, list[str]] = {}
        for q in (q for q in pub.points if q.device == device):
            if q.params:
                ax.scatter(q.params, q.ms, marker="x", s=36, color="tab:red", zorder=4)
                ax.annotate(f"paper: {q.paper}", (q.params, q.ms), fontsize=6, color="tab:red", xytext=(3, -8),
                            textcoords="offset points")
            else:
                levels.setdefault(q.ms, []).append(q.paper)
        for ms, names in levels.items():  # one line per published level, its models named together
            ax.axhline(ms, color="tab:red", lw=0.6, ls=":")
            ax.annotate(f"paper: {', '.join(names)} {ms:g} ms", (0.01, ms), xycoords=("axes fraction", "data"),
                        fontsize=6, color="tab:red", va="bottom")
        ax.set_xlim(*x_range)
        ax.axhline(pub.budget_ms, color="grey", lw=1.0, ls="--")
        ax.annotate(f"real-time budget {pub.budget_ms:g} ms", (0.99, pub.budget_ms), xycoords=("axes fraction", "data"),
                    fontsize=6, color="grey", ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters (without unit / session embedding tables, log)")
        ax.set_ylabel(f"{name} latency per {pub.chunk_ms:g} ms chunk, median (ms, log)")
        ax.set_title(f"{name}: {len(mine)} harness model(s)" if mine else f"{name}: no harness measurement yet",
                     fontsize=9)
    fig.tight_layout()
    rows = []
    published_of = {(q.label, q.device): q for q in pub.points}
    for p in sorted(points, key=lambda p: (p.device, p.params)):
        q = published_of.get((p.label, p.device))
        rows.append([f"`{p.label}`", "GPU" if p.device == "cuda" else "CPU", f"{p.params:,}", f"{p.median_ms:.3f}",
                     f"{p.p99_ms:.3f}", str(p.threads if p.device == "cpu" else "—"), p.source,
                     f"{q.paper}: {q.ms:g}" if q else "—"])
    table = md_table(["harness model", "device", "params", "median ms", "p99 ms", "CPU threads", "from",
                      "paper (ms)"], rows) if rows else "_No latency records at 50 ms chunks yet._\n"
    gpu_missing = not any(p.device == "cuda" for p in points)
    text = (f"![latency against parameters]({FIGURE})\n\n" + table + "\n"
            "Harness: median (and p99) of per-chunk `step` times at batch 1, CUDA synchronised around each step; "
            "blue points. Paper: red crosses where the source gives a parameter count, dotted level lines where it "
            "does not (GPU values are read off Fig. 4c by secondary notes, marked approximate in published.yaml). "
            "The paper's CPU figures are on its own machine; the harness's on the machine in each record's provenance.\n")
    if gpu_missing:
        text += ("\n_No GPU latency in the records: run `python scripts/gpu_check.py` on a GPU machine "
                 "(see the README's GPU section), then `python -m bench paper` again._\n")
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return SectionOutput(text, {FIGURE: fig})
