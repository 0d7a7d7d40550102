"""Records: typed schema, atomic files, and clear errors for anything that is not a record."""

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import DataError
from bench.results.migrate import upgrade_v1
from bench.results.records import Record, load_records, read_record, record_files, write_record

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "results/nhp/records").glob("gru__*.json"))[0]


def test_round_trip_and_file_name(tmp_path):
    rec = read_record(COMMITTED)
    path = write_record(tmp_path, rec)
    assert path.name == COMMITTED.name == rec.file_name
    assert read_record(path) == rec


def test_leftover_temp_files_are_not_records(tmp_path):
    write_record(tmp_path, read_record(COMMITTED))
    (tmp_path / "records" / ".tmp-abc.json").write_text('{"half": ')
    (tmp_path / "records" / ".tmp-def.part").write_text("{}")
    assert [p.name for p in record_files(tmp_path)] == [COMMITTED.name]
    assert len(load_records(tmp_path)) == 1


def test_non_records_are_named_errors(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "x.json").write_text('{"suite": "nhp"}')
    with pytest.raises(DataError, match=r"x.json is not a result record \(field 'model'"):
        load_records(tmp_path)
    (folder / "x.json").write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match="x.json cannot be read as JSON"):
        load_records(tmp_path)


def test_non_finite_values_are_written_as_strict_json(tmp_path):
    rec = read_record(COMMITTED).model_copy(update={"streaming_max_abs_diff": float("nan")})
    text = write_record(tmp_path, rec).read_text()
    assert "NaN" not in text and json.loads(text)["streaming_max_abs_diff"] is None


def _as_format_1(rec: Record) -> dict:
    raw = json.loads(rec.model_dump_json())
    cfg = {k: v for k, v in raw.pop("config").items() if k not in ("device", "needs_gpu")}
    if rec.config["needs_gpu"]:
        cfg["needs_gpu"] = True
    for k in ("format", "key", "identity"):
        raw.pop(k)
    return {**raw, "config": {**cfg, "record_format": 1}, "config_hash": "0123456789"}


@pytest.mark.parametrize("pattern", ["gru__c_co_2016*", "poyo-ss__t_rt*"])
def test_format_1_records_migrate_to_the_same_key(tmp_path, pattern):
    rec = read_record(sorted((ROOT / "results/nhp/records").glob(pattern))[0])
    assert upgrade_v1(_as_format_1(rec), "cpu") == rec
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "old.json").write_text(json.dumps(_as_format_1(rec)))
    with pytest.raises(DataError, match="old record format 1.*bench migrate"):
        load_records(tmp_path)


def test_migrate_command_rewrites_a_folder(tmp_path):
    from bench.results.migrate import migrate_folder
    from bench.suite.loader import load_suite

    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "old.json").write_text(json.dumps(_as_format_1(read_record(COMMITTED))))
    written = migrate_folder(load_suite(ROOT / "suites/nhp.yaml"), tmp_path)
    assert [p.name for p in written] == [COMMITTED.name] and [p.name for p in record_files(tmp_path)] == [COMMITTED.name]
    shutil.rmtree(folder)
