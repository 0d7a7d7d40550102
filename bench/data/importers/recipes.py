"""Named import specs for known datasets, stored as data: one YAML file per recipe in ``recipes/``.

A recipe is an ordinary spec whose ``path`` (and other ``*_path`` fields) name files inside the
folder the user points at; the user's own fields override the recipe's.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

RECIPE_DIR = Path(__file__).with_name("recipes")


@cache
def _recipes() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(RECIPE_DIR.glob("*.yaml"))}


def recipe_names() -> list[str]:
    return sorted(_recipes())


def recipe(name: str) -> dict[str, Any]:
    """A fresh copy of the recipe's fields (callers may change it)."""
    return dict(_recipes()[name])
