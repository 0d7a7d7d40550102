"""A run folder: one `bench run` at a time, stale locks taken over, I/O errors clean, temp files never read."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.results import records as records_module
from bench.results.records import load_records, record_files
from bench.suite.run_lock import LOCK_NAME, RunFolderBusy, run_folder_lock
from bench.suite.schedule import run_suite
from tests.conftest import write_suite

SUITE = """
name: tiny
task: reaching_velocity
seeds: [0]
train: {epochs: 1, batch_size: 16}
latency: {n_chunks: 10, warmup: 1}
check_streaming: false
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener, params: {alphas: [1.0]}}
"""


@pytest.fixture
def suite_file(tmp_path, tiny_folder):
    return write_suite(tmp_path, tiny_folder, SUITE)


def test_a_second_run_of_one_folder_is_refused_naming_the_holder(tmp_path, suite_file):
    out = tmp_path / "run"
    with run_folder_lock(out):
        with pytest.raises(RunFolderBusy, match=rf"in use by another `bench run` \(pid {os.getpid()} on"):
            run_suite(suite_file, out=out, progress=False, log=lambda s: None, compare=False)
    assert not record_files(out)
    run_suite(suite_file, out=out, progress=False, log=lambda s: None, compare=False)  # released: runs
    assert len(record_files(out)) == 1


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from bench.suite.run_lock import run_folder_lock
        with run_folder_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=f"pid {holder.pid}"):
            with run_folder_lock(out):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        with run_folder_lock(out):  # the kernel released the dead holder's lock
            assert str(os.getpid()) in (out / LOCK_NAME).read_text()
    finally:
        holder.kill()
        holder.stdout.close()


def test_a_full_disk_is_a_clean_error_leaving_no_partial_record(tmp_path, suite_file, monkeypatch, capsys):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(records_module.os, "fsync", no_space)
    out = tmp_path / "run"
    with pytest.raises(BenchError, match="No space left on device"):
        run_suite(suite_file, out=out, progress=False, log=lambda s: None, compare=False)
    # the first write that fails (a session checkpoint or the record) stops the run: no record, no temp file
    assert not (out / "records").exists() or os.listdir(out / "records") == []
    assert not [p for p in out.rglob(".tmp-*")]
    assert main(["run", str(suite_file), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No space left on device" in err and "Traceback" not in err
    assert "\n" not in err.strip()
    monkeypatch.undo()
    run_suite(suite_file, out=out, progress=False, log=lambda s: None, compare=False)
    assert len(record_files(out)) == 1


def test_an_unwritable_run_folder_is_a_clean_error(tmp_path, suite_file, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", str(suite_file), "--out", str(blocker / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot be created or locked" in err and "Traceback" not in err


def test_a_leftover_temp_file_is_never_read_as_a_record(tmp_path, suite_file):
    out = run_suite(suite_file, out=tmp_path / "run", progress=False, log=lambda s: None, compare=False)
    (real,) = record_files(out)
    tampered = real.read_text().replace('"seed": 0', '"seed": 7')
    (real.parent / ".tmp-abcd.json").write_text(tampered)
    (real.parent / ".tmp-efgh.part").write_text(tampered[:100])
    assert record_files(out) == [real]
    assert [r.seed for r in load_records(out)] == [0]


def test_run_folder_lock_holds_across_processes_quickly(tmp_path):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    with run_folder_lock(out):
        code = f"from bench.suite.run_lock import run_folder_lock\nwith run_folder_lock({str(out)!r}): pass"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "RunFolderBusy" in done.stderr
    assert time.perf_counter() - t0 < 30


def test_a_figure_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """save_figure: a failed write (a full disk) keeps the previous PNG and leaves no temp file; a
    written PNG is complete and readable by the user like any file they write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.results.figures import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save_figure(fig, tmp_path / "a.png", dpi=50)
    before = png.read_bytes()
    assert before.startswith(b"\x89PNG") and (png.stat().st_mode & 0o044) == (0o666 & ~_umask() & 0o044)

    def full_disk(fh, **kwargs):
        fh.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fig, "savefig", full_disk)
    with pytest.raises(OSError):
        save_figure(fig, png, dpi=50)
    plt.close(fig)
    assert png.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
