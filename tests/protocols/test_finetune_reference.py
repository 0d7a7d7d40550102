"""A fine-tuning suite names its pretrained model by the pretraining suite and label: resolved to the
checkpoint that suite's planned run writes, its key in the fine-tuning identity, and a clear
paragraph when the checkpoint is not made yet or the reference names nothing."""

import json

import pytest

from bench.errors import SuiteError
from bench.results.records import load_records
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs
from bench.suite.schedule import run_suite
from tests.conftest import write_suite
from tests.pretraining.test_protocols import FINETUNE, MODEL, PRETRAIN, folders, suite_text  # noqa: F401 (fixture)

REFERENCE = "{pretrain_suite: pre.yaml, label: possm-gru}"


def write_pair(tmp_path, folders, reference: str = REFERENCE, pretrain_edit=("", "")):  # noqa: F811
    """pre.yaml and ft.yaml side by side in ``tmp_path`` (the working folder of the test)."""
    write_suite(tmp_path, folders, suite_text(PRETRAIN, folders).replace(*pretrain_edit), name="pre.yaml")
    return write_suite(tmp_path, folders, suite_text(FINETUNE, folders, CKPT=reference), name="ft.yaml")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `bench run pre.yaml` writes runs/pre here, where the reference looks
    return tmp_path


def test_missing_checkpoint_is_one_paragraph_with_the_command(workdir, folders):  # noqa: F811
    ft = write_pair(workdir, folders)
    with pytest.raises(SuiteError) as err:
        run_suite(ft, workdir / "runs" / "ft", progress=False, compare=False, log=lambda s: None)
    text = str(err.value)
    (pre_run,) = plan_runs(load_suite(workdir / "pre.yaml"))
    expected = workdir / "runs" / "pre" / "checkpoints" / (pre_run.name[: -len(".json")] + ".json")
    assert "\n" not in text and "protocol.params.checkpoints.o-possm" in text
    assert str(expected) in text and pre_run.key in text and "pre.yaml" in text
    assert "python -m bench run pre.yaml" in text and "bench.pretraining.distributed pre.yaml" in text
    assert not list((workdir / "runs" / "ft").glob("records/*.json"))  # nothing trained


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory, folders):  # noqa: F811
    """pre.yaml pretrained once into runs/pre of its folder (as `bench run pre.yaml` run there does)."""
    root = tmp_path_factory.mktemp("work")
    write_pair(root, folders)
    run_suite(root / "pre.yaml", root / "runs" / "pre", progress=False, compare=False, log=lambda s: None)
    return root


SEEN_SUITE = f"""
name: ft_seen
task: reaching_velocity
train: {{epochs: 2, batch_size: 8}}
protocol:
  name: finetune
  params: {{checkpoints: {{o-possm: {REFERENCE}}}, modes: [ui, ft], ui_epochs: 1, SEEN}}
datasets:
  - {{name: heldout_session, source: hdf5, params: {{path: A}}, sessions: [2]}}
  - {{name: seen_session, source: hdf5, params: {{path: A}}, sessions: [0]}}
models:
  - {{name: possm-gru, label: o-possm, params: {MODEL}}}
"""


def seen_suite(root, folders, allow: bool):  # noqa: F811
    """One held-out and one pretrained-on session, the pretrained model only."""
    text = suite_text(SEEN_SUITE, folders, SEEN="seen_sessions: allow" if allow else "seen_sessions: refuse")
    return write_suite(root, folders, text, name=f"ft_{allow}.yaml")


def test_seen_sessions_are_refused_before_anything_trains(pretrained_dir, folders, monkeypatch):  # noqa: F811
    monkeypatch.chdir(pretrained_dir)
    out = pretrained_dir / "runs" / "refused"
    with pytest.raises(SuiteError, match=r"dataset 'seen_session' holds session\(s\) \['a_0'\]") as err:
        run_suite(seen_suite(pretrained_dir, folders, False), out, progress=False, compare=False, log=lambda s: None)
    assert "seen_sessions: allow" in str(err.value) and "\n" not in str(err.value)
    assert not list(out.glob("records/*.json"))  # the held-out dataset, first in the file, did not train either


def test_suite_named_checkpoint_fine_tunes_from_the_pretraining_run(pretrained_dir, folders, monkeypatch):  # noqa: F811
    monkeypatch.chdir(pretrained_dir)
    (pre_record,) = load_records(pretrained_dir / "runs" / "pre")
    out = pretrained_dir / "runs" / "ft"
    run_suite(seen_suite(pretrained_dir, folders, True), out, progress=False, compare=False, log=lambda s: None)
    records = {r.dataset: r for r in load_records(out)}
    assert set(records) == {"heldout_session", "seen_session"}
    o = records["heldout_session"]
    pretrained = o.scores["pretrained"]
    assert pretrained["key"] == pre_record.key
    assert pretrained["checkpoint"] == f"runs/pre/{pre_record.scores['checkpoint']}"  # relative to the suite file
    assert pretrained["reference"] == {"pretrain_suite": "pre.yaml", "label": "possm-gru"}
    assert o.identity["protocol"]["params"]["checkpoints"] == {
        "o-possm": {"pretrain_suite": "pre.yaml", "label": "possm-gru", "run_key": pre_record.key}}
    assert o.scores["seen_in_pretraining"] == [] and records["seen_session"].scores["seen_in_pretraining"] == ["a_0"]
    assert {p.setting["mode"] for p in records["seen_session"].sessions[0].points} == {"ui", "ft"}


def test_changed_pretraining_rekeys_the_fine_tuning_runs(workdir, folders):  # noqa: F811
    keys = {r.name for r in plan_runs(load_suite(write_pair(workdir, folders)))}
    changed = {r.name for r in plan_runs(load_suite(write_pair(workdir, folders, pretrain_edit=("epochs: 2", "epochs: 3"))))}
    assert keys.isdisjoint({n for n in changed if n.startswith("o-possm")})
    # the plain path form keeps working and keys by the path
    plain = write_suite(workdir, folders, suite_text(FINETUNE, folders, CKPT="some/stem"), name="plain.yaml")
    (o,) = [r for r in plan_runs(load_suite(plain)) if r.model.display == "o-possm"][:1]
    assert o.identity["protocol"]["params"]["checkpoints"] == {"o-possm": "some/stem"}


@pytest.mark.parametrize("reference, message", [
    ("{pretrain_suite: pre.yaml, label: gru}", "label 'gru' matches none of the runs of pretraining suite"),
    ("{pretrain_suite: nowhere.yaml, label: possm-gru}", "pretrain_suite 'nowhere.yaml' is no file"),
    ("{pretrain_suite: ft.yaml, label: o-possm}", "runs protocol 'finetune', not 'pretrain'"),
    ("{pretrain_suite: pre.yaml, label: possm-gru, sede: 1}", "unknown field"),
])
def test_bad_reference_is_refused_when_planning(workdir, folders, reference, message):  # noqa: F811
    ft = write_pair(workdir, folders, reference)
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        plan_runs(load_suite(ft))
    assert "\n" not in str(err.value)


def test_interrupted_pretraining_says_the_same_command_resumes_it(workdir, folders):  # noqa: F811
    ft = write_pair(workdir, folders)
    (pre_run,) = plan_runs(load_suite(workdir / "pre.yaml"))
    stem = workdir / "runs" / "pre" / "checkpoints" / pre_run.name[: -len(".json")]
    stem.parent.mkdir(parents=True)
    stem.with_name(stem.name + ".last.json").write_text(json.dumps({}))
    with pytest.raises(SuiteError, match="partial checkpoint of this run is there"):
        run_suite(ft, workdir / "runs" / "ft", progress=False, compare=False, log=lambda s: None)
