"""The tiny suite of the runner's tests (two hand-built recordings, wiener and a small gru) with a protocol."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import TINY_SUITE as SUITE


@pytest.fixture
def protocol_suite(tmp_path, tiny_folder):
    """Write the tiny suite with ``protocol`` (YAML text) and return its path."""

    def make(protocol: str):
        path = tmp_path / "suite.yaml"
        text = textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder))
        path.write_text(text.replace("task: reaching_velocity\n", f"task: reaching_velocity\nprotocol: {protocol}\n"))
        return path

    return make
