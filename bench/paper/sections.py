"""The paper's sections as a small registry: each turns committed records into markdown + figures.

A section is a function of the results folder that returns its markdown and its figures (open
matplotlib figures): ``bench paper`` writes nothing until every section has rendered, so a bad
record leaves the output folder as it was. A section whose results folder is missing or empty
renders a line saying so instead of failing. Adding a section is one ``@section`` function in a
module imported by ``bench.paper.build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


@dataclass
class SectionOutput:
    markdown: str
    figures: dict[str, Figure] = field(default_factory=dict)  # file name -> figure, written by bench.paper.build


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


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain markdown table (cells are strings already; '|' escaped)."""
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
