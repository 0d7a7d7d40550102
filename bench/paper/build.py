"""`python -m bench paper`: every registered section rendered from committed records, then written.

Nothing is trained. All sections render in memory first; only then are paper.md and the figures
written, each atomically (temp file + rename) and only inside the output folder, so a damaged
record stops the command with its name and leaves the previous paper as it was.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.errors import BenchError
from bench.paper import handwriting, latency_figure, nhp, speech, transfer  # noqa: F401  (register sections)
from bench.paper.published import PUBLISHED_FILE, published
from bench.paper.sections import ordered_sections
from bench.results.figures import save_figure
from bench.results.records import atomic_write_text

PAPER_FILE = "paper.md"


def render_paper(results: Path) -> tuple[str, dict[str, Figure]]:
    """The whole paper's markdown and its figures (file name -> open figure), nothing written."""
    results = Path(results)
    if not results.is_dir():
        raise BenchError(f"The results folder {results} does not exist; give the folder that holds nhp/, latency/, "
                         "handwriting/ ... with --results (default: results).")
    parts = ["# The POSSM paper's tables, regenerated from this harness's records\n",
             f"Made by `python -m bench paper` from the records under `{results.name}/` alone (nothing is "
             "retrained). Each harness figure stands beside the published one; the published figures and their "
             f"sources are data in `{PUBLISHED_FILE.relative_to(PUBLISHED_FILE.parents[2])}`. The harness's datasets "
             "are simulators named after the paper's, so the published figures are context, not targets.\n"]
    figures: dict[str, Figure] = {}
    for sec in ordered_sections():
        out = sec.render(results)
        clash = set(out.figures) & set(figures)
        if clash:
            raise BenchError(f"Paper section '{sec.name}' writes figure(s) {sorted(clash)} another section writes.")
        figures.update(out.figures)
        parts.append(f"## {sec.title}\n\n{out.markdown}")
    parts.append("## Sources\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in published().sources.items()) + "\n")
    return "\n".join(parts), figures


def write_paper(results: Path, out: Path) -> list[Path]:
    """Render every section, then write paper.md and the figures into ``out``; returns the paths."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file; give a folder for paper.md and its figures.")
    text, figures = render_paper(results)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [save_figure(fig, out / name, dpi=150) for name, fig in figures.items()]
        atomic_write_text(out / PAPER_FILE, text)
        written.append(out / PAPER_FILE)
    except OSError as exc:
        raise BenchError(f"The paper cannot be written to {out}: {exc.strerror or exc}. Each file is written whole "
                         "or not at all; fix the cause (free space, permissions) and rerun.") from None
    finally:
        for fig in figures.values():
            plt.close(fig)
    return written
