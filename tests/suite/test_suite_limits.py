"""Issue 13's suite reproducers: every one is refused in validation with one bounded paragraph.

Each case names what must appear in the message (the field or the problem); the message must name
the file, stay short (no unbounded value), and come fast (billion laughs is never expanded).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import SuiteError
from bench.suite.loader import load_suite
from bench.suite.yaml_limits import MAX_FILE_BYTES, short

ROOT = Path(__file__).resolve().parents[2]
SMOKE = (ROOT / "suites/smoke.yaml").read_text()

LAUGHS = "lol: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
    for i in range(1, 10))

CASES = {
    "non_utf8": (SMOKE.encode() + b"\ndescription: \xff\xfe bad\n", "not UTF-8"),
    "deep_nesting": ((SMOKE + "description: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nesting deeper"),
    "deep_block_nesting": ((SMOKE + "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "v: 1\n").encode(),
                           "nesting deeper"),
    "huge_int": (SMOKE.replace("seeds: [0]", "seeds: [" + "9" * 5000 + "]").encode(), "digits"),
    "inf_chunk": (SMOKE.replace("chunk_ms: 50", "chunk_ms: .inf").encode(), "non-finite"),
    "nan_chunk": (SMOKE.replace("chunk_ms: 50", "chunk_ms: .nan").encode(), "non-finite"),
    "overflow_float": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 1.0e+999").encode(), "non-finite"),
    "overflow_float_as_text": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 1e999").encode(), "finite number"),
    "billion_laughs": ((LAUGHS + SMOKE).encode(), "aliases"),
    "recursive_alias": ((SMOKE + "extra: &r [*r]\n").encode(), ""),
    "duplicate_key": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 50\nchunk_ms: 20").encode(), "duplicate key 'chunk_ms'"),
    "duplicate_nested_key": (SMOKE.replace("{hidden: 64}", "{hidden: 64, hidden: 8}").encode(), "duplicate key 'hidden'"),
    "negative_seed": (SMOKE.replace("seeds: [0]", "seeds: [-1]").encode(), "seeds[0]"),
    "huge_seed": (SMOKE.replace("seeds: [0]", "seeds: [99999999999999]").encode(), "seeds[0]"),
    "empty_alphas": (SMOKE.replace("{name: wiener}", "{name: wiener, params: {alphas: []}}").encode(), "alphas"),
    "negative_alpha": (SMOKE.replace("{name: wiener}", "{name: wiener, params: {alphas: [-1.0]}}").encode(), "alphas"),
    "nan_alpha": (SMOKE.replace("{name: wiener}", "{name: wiener, params: {alphas: [.nan]}}").encode(), "non-finite"),
    "inf_alpha": (SMOKE.replace("{name: wiener}", "{name: wiener, params: {alphas: [.inf]}}").encode(), "non-finite"),
    "huge_hidden": (SMOKE.replace("{hidden: 64}", "{hidden: 1000000000}").encode(), "hidden"),
    "huge_n_lags": (SMOKE.replace("{name: wiener}", "{name: wiener, params: {n_lags: 1e9}}").encode(), "n_lags"),
    "tiny_chunk": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 0.000001").encode(), "chunk_ms"),
    "huge_epochs": (SMOKE.replace("epochs: 4", "epochs: 1000000000").encode(), "epochs"),
    "huge_batch": (SMOKE.replace("batch_size: 16", "batch_size: 1000000000").encode(), "batch_size"),
    "nan_lr": (SMOKE.replace("epochs: 4", "epochs: 4, lr: .nan").encode(), "non-finite"),
    "name_dotdot": (SMOKE.replace("name: smoke", 'name: ".."').encode(), "field 'name'"),
    "name_dot": (SMOKE.replace("name: smoke", 'name: "."').encode(), "field 'name'"),
    "name_slash": (SMOKE.replace("name: smoke", 'name: "../escape"').encode(), "field 'name'"),
    "name_absolute": (SMOKE.replace("name: smoke", 'name: "/tmp/x"').encode(), "field 'name'"),
    "dataset_dotdot": (SMOKE.replace("name: c_co_small", 'name: "../x"').encode(), "datasets[0].name"),
    "label_slash": (SMOKE.replace("{name: wiener}", '{name: wiener, label: "a/../../b"}').encode(), "models[0].label"),
    "label_hidden": (SMOKE.replace("{name: wiener}", '{name: wiener, label: ".."}').encode(), "models[0].label"),
    "huge_string_value": (SMOKE.replace("chunk_ms: 50", "chunk_ms: " + "x" * 500_000).encode(), "chunk_ms"),
    "long_task_name": (SMOKE.replace("task: reaching_velocity", "task: " + "x" * 5000).encode(), "task.name"),
    "long_model_name": (SMOKE.replace("{name: wiener}", "{name: " + "w" * 5000 + "}").encode(), "models[0].name"),
    "bad_timestamp": (SMOKE.replace("chunk_ms: 50", "chunk_ms: !!timestamp 50").encode(), "cannot be read"),
    "control_character": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 5\x1b0").encode(), "control character"),
    "python_tag": (SMOKE.replace("chunk_ms: 50", "chunk_ms: !!python/object/apply:os.system ['true']").encode(),
                   "not valid YAML"),
    "oversized_file": (SMOKE.encode() + b"#" * (MAX_FILE_BYTES + 10), "at most"),
    "huge_key": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 50\n" + "k" * 100_000 + ": 1").encode(), "not valid YAML"),
    "long_key": (SMOKE.replace("chunk_ms: 50", "chunk_ms: 50\n" + "k" * 1000 + ": 1").encode(), "unknown field"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reproducer_is_a_short_clean_error(case, tmp_path):
    content, expected = CASES[case]
    path = tmp_path / "suite.yaml"
    path.write_bytes(content)
    t0 = time.perf_counter()
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert time.perf_counter() - t0 < 5.0
    msg = str(exc.value)
    assert str(path) in msg and expected in msg, msg
    assert len(msg) < 2000, f"{len(msg)} characters"


def test_cli_prints_one_paragraph_and_exits_2(tmp_path, capsys):
    path = tmp_path / "suite.yaml"
    path.write_bytes(CASES["billion_laughs"][0])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Suite file") and "Traceback" not in err and len(err) < 2000


def test_the_message_names_the_duplicate_keys_lines(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SMOKE.replace("chunk_ms: 50", "chunk_ms: 50\nchunk_ms: 20"))
    with pytest.raises(SuiteError, match=r"first on line 5, again on line 6"):
        load_suite(path)


def test_harmless_aliases_and_merge_keys_still_load(tmp_path):
    text = SMOKE.replace("train: {epochs: 4, batch_size: 16}", "train: &t {epochs: 4, batch_size: 16}").replace(
        "{name: gru, params: {hidden: 32, embed_dim: 16}}", "{name: gru, params: {hidden: 32}, train: {<<: *t, epochs: 2}}")
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    suite = load_suite(path)
    assert suite.train_config(suite.spec.models[2]).epochs == 2
    assert suite.train_config(suite.spec.models[2]).batch_size == 16


@pytest.mark.parametrize("name", ["smoke", "nhp_large", "a.b-c_d+1"])
def test_ordinary_names_stay_valid(name, tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SMOKE.replace("name: smoke", f"name: {name}"))
    assert load_suite(path).spec.name == name


def test_short_bounds_any_value():
    assert len(short("x" * 10**6)) == 80
    assert short(list(range(1000))) == "<list of 1000 items>"
    assert short(1.5) == "1.5"


def test_a_key_with_a_newline_is_named_on_one_line(tmp_path):
    """Found by the hypothesis fuzz: an unknown key holding a newline was printed raw in the message."""
    from bench.errors import SuiteError
    from bench.suite.loader import load_suite

    p = tmp_path / "s.yaml"
    p.write_text('name: x\ntask: reaching_velocity\ndatasets: [{name: d, source: simulator, "a\\nb": 1}]\n'
                 "models: [{name: wiener}]\n")
    with pytest.raises(SuiteError) as err:
        load_suite(p)
    assert "\n" not in str(err.value) and "a\\nb" in str(err.value)
