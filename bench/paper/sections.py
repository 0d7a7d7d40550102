"""The paper's sections as a small registry: each turns committed records into markdown + figures.

A section is a function of the results folder that returns its markdown and its figures as PNG
bytes, rendered in memory: ``bench paper`` writes nothing until every section has rendered, so a
bad record leaves the output folder as it was. A section whose results folder is missing or empty
renders a line saying so instead of failing. Adding a section is one ``@section`` function in a
module imported by ``bench.paper.build``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@dataclass
class SectionOutput:
    markdown: str
    figures: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG bytes


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    order: int
    render: Callable[[Path], SectionOutput]


SECTIONS: dict[str, Section] = {}


def section(name: str, title: str, order: int) -> Callable[[Callable[[Path], SectionOutput]],
                                                           Callable[[Path], SectionOutput]]:
    """Register ``render(results_dir) -> SectionOutput`` under ``name``; sections appear by ``order``."""
    def register(render: Callable[[Path], SectionOutput]) -> Callable[[Path], SectionOutput]:
        if name in SECTIONS:
            raise ValueError(f"paper section '{name}' is registered twice")
        SECTIONS[name] = Section(name, title, order, render)
        return render
    return register


def ordered_sections() -> list[Section]:
    return sorted(SECTIONS.values(), key=lambda s: (s.order, s.name))


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (closed afterwards), so nothing touches the disk before all sections render."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    return buf.getvalue()


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain markdown table (cells are strings already; '|' escaped)."""
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
