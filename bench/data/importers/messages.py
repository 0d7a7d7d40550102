"""User-facing import errors: one DataError paragraph naming the file, array or field and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from bench.errors import DataError


def fail(msg: str) -> DataError:
    """A DataError whose text is one paragraph (whitespace collapsed) starting with a capital."""
    text = " ".join(msg.split())
    return DataError(text[:1].upper() + text[1:])


def shape_of(a: Any) -> str:
    if isinstance(a, (list, tuple)):
        return f"a list of {len(a)}"
    return str(tuple(np.shape(a)))


def validation_message(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(spec)"
        parts.append(f"field '{loc}': {err.get('msg')}")
    return f"Invalid {what}: " + "; ".join(parts) + ". See docs/import_schema.md for the fields."


@dataclass
class ArrayNames:
    """Where each canonical array came from (file and name in it), so errors can point at it."""

    where: str
    names: dict[str, str]

    def __call__(self, key: str) -> str:
        return f"{self.names.get(key, repr(key))} in {self.where}"
