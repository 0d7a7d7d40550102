"""Read a suite file as YAML within limits, so that no file can hang, exhaust memory or escape as a traceback.

PyYAML alone accepts what the harness cannot use safely: bytes that are not UTF-8, nesting deep
enough to overflow the stack, aliases that expand to billions of nodes ("billion laughs": the
loader shares them, but anything that walks the result expands them), integers past Python's
4300-digit conversion limit, non-finite floats (``.inf``, ``.nan``, ``1e999``) and duplicate keys
(last one silently wins). Each of these is refused here with a SuiteError naming the file, the
line and what was expected; ``short`` keeps every value quoted in a message bounded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bench.errors import SuiteError

MAX_FILE_BYTES = 1 << 20  # a suite is a few kB; 1 MiB leaves room for generated suites
MAX_DEPTH = 32  # the committed suites nest 5 deep
MAX_NODES = 100_000  # nodes after expanding every alias (the committed suites have a few hundred)
MAX_INT_DIGITS = 30  # no setting needs more; Python refuses > 4300 digits with a ValueError
MAX_REPR = 80


def short(value: Any, limit: int = MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (a value may be megabytes)."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 20:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # self-referencing structure, huge int
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters (a message quoting user input may be megabytes)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader with a nesting limit, an expanded-size limit, duplicate keys refused and bounded numbers."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConstructorError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key {short(key)} (first on line {seen[key]}, again on line {line}); "
                        "YAML would silently keep the last one", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"integer of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise ConstructorError(None, None, f"non-finite number {short(node.value)} (every setting must be a finite "
                                   "number)", node.start_mark)
        return value


_LimitedLoader.add_constructor("tag:yaml.org,2002:int", _LimitedLoader.construct_yaml_int)
_LimitedLoader.add_constructor("tag:yaml.org,2002:float", _LimitedLoader.construct_yaml_float)


def _expanded_size(root: Node) -> int:
    """Number of nodes once every alias is expanded (shared nodes counted at each use), without expanding."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in on_path or len(on_path) >= MAX_DEPTH:  # a recursive alias expands forever
            return MAX_NODES + 1
        on_path.add(id(node))
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        total = 1
        for child in children:
            total = min(total + size(child), MAX_NODES + 1)
        on_path.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def read_yaml(path: Path) -> Any:
    """The parsed content of the YAML file ``path``; any problem is a SuiteError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SuiteError(f"Suite file {path} is {size:,} bytes; a suite file may have at most {MAX_FILE_BYTES:,} "
                             "bytes (is it the right file?).")
        data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise SuiteError(f"Suite file {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteError(f"Suite file {path} is not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start} "
                         f"(line {line}) cannot be decoded; save the file as UTF-8.") from None
    loader = None
    try:
        loader = _LimitedLoader(text)  # its reader refuses control characters here
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise SuiteError(f"Suite file {path}: its aliases (*name) expand to more than {MAX_NODES:,} values or "
                             f"deeper than {MAX_DEPTH} levels; a suite needs a few hundred values. Write the repeated parts out, or use fewer nested aliases.")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise SuiteError(f"Suite file {path} is not valid YAML: {_yaml_message(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors do not guard every tag (e.g. !!timestamp x)
        raise SuiteError(f"Suite file {path} cannot be read as a suite ({type(exc).__name__}: "
                         f"{clip(' '.join(str(exc).split()))}); check its tags (!!...) and values.") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(exc: yaml.YAMLError) -> str:
    """PyYAML's message without its source excerpt (which may quote a line of any length)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [p for p in (exc.context, exc.problem) if p]
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return clip("; ".join(parts)) + where + "."
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.character:#06x} at offset {exc.position} is a control character YAML does not allow."
    return clip(" ".join(str(exc).split()))
