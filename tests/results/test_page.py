"""The leaderboard page from records alone: rows, flags, links, the scatter and its Pareto front,
escaping of everything a record holds, and clear errors."""

import re
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.results.page import build_pages
from bench.results.page_parts import pareto_front
from tests.results.fake_records import make_record, write_records

EVIL = "<img src=x onerror=alert(1)>\"'&"


def leaderboard(folder: Path) -> Path:
    """gru, a faster and worse wiener, a slower and better s4d, a dominated mlp, an invalid stream,
    an untrained needs-GPU model, and a label that tries to inject HTML."""
    recs = []
    for seed in range(3):
        s = {"a": 0.8 + seed / 100, "b": 0.7 + seed / 100}
        recs += [make_record("gru", "d", seed, s, latency_ms=0.2, n_parameters=250_000),
                 make_record("wiener", "d", seed, {k: v - 0.1 for k, v in s.items()}, latency_ms=0.03, n_parameters=1500),
                 make_record("s4d", "d", seed, {k: v + 0.05 for k, v in s.items()}, latency_ms=0.3, n_parameters=200_000),
                 make_record("mlp", "d", seed, {k: v - 0.05 for k, v in s.items()}, latency_ms=0.25, n_parameters=260_000),
                 make_record("possm-gru", "d", seed, {k: v + 0.1 for k, v in s.items()}, latency_ms=0.35, stream=0.19),
                 make_record(EVIL, "d", seed, {k: v - 0.2 for k, v in s.items()}, latency_ms=1.0)]
    recs.append(make_record("poyo-ss", "d", 0, None, latency_ms=9.0, n_parameters=1_250_000))
    recs.append(make_record("unconv", "d", 0, {"a": 0.6}, latency_ms=0.5,
                            fit={"best_epoch": 19, "epochs_run": 20, "stopped_early": False, "hit_time_cap": False}))
    return write_records(folder, recs)


def rows(html: str) -> list[str]:
    body = html[html.index('<table id="leaderboard"'):]
    body = body[:body.index("</table>")]
    return re.findall(r'<tr data-model="([^"]*)"', body)


def test_page_rows_flags_links_and_front(tmp_path):
    folder = leaderboard(tmp_path / "run")
    before = {p for p in tmp_path.rglob("*")}
    [page] = build_pages(folder)
    assert page == folder / "index.html" and {p for p in tmp_path.rglob("*")} - before == {page}  # nothing else
    html = page.read_text()
    order = rows(html)
    assert order[:4] == ["possm-gru", "s4d", "gru", "mlp"] and order[-1] == "poyo-ss"  # best first, unscored last
    assert len(order) == 8
    invalid = re.search(r'<tr data-model="possm-gru" class="invalid">(.*?)</tr>', html, re.S).group(1)
    assert "INVALID stream" in invalid and "INVALID(stream)" in invalid  # the flag and the cell mark
    assert "unconverged" in re.search(r'<tr data-model="unconv"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "needs GPU" in re.search(r'<tr data-model="poyo-ss"[^>]*>(.*?)</tr>', html, re.S).group(1)
    links = re.findall(r'<a href="(records/[^"]+\.json)"', html)
    assert len(links) == 20 and all((folder / link).is_file() for link in links)  # relative, and they resolve
    # the front: wiener (fastest), gru, s4d; possm-gru scores best but streams wrong: left off
    front = re.findall(r'<g class="point pareto" data-model="([^"]+)"', html)
    assert sorted(front) == ["gru", "s4d", "wiener"] and 'class="point invalid" data-model="possm-gru"' in html
    assert 'class="pareto-line"' in html and 'class="unscored" data-model="poyo-ss"' in html
    assert "Paired comparison with gru" in html and "Wilcoxon" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_the_same_records_give_the_same_page(tmp_path):
    folder = leaderboard(tmp_path / "run")
    first = build_pages(folder)[0].read_bytes()
    assert build_pages(folder)[0].read_bytes() == first


def test_every_record_string_is_escaped(tmp_path):
    html = build_pages(leaderboard(tmp_path / "run"))[0].read_text()
    assert "<img" not in html and "onerror=alert(1)>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;" in html  # shown as text, in rows and figure
    assert html.count("&lt;img src=x") >= 3  # table row, scatter label, paired table


def test_pareto_front_follows_the_metric_direction():
    pts = [{"model": "a", "lat": 1.0, "score": 0.5}, {"model": "b", "lat": 2.0, "score": 0.7},
           {"model": "c", "lat": 3.0, "score": 0.6}, {"model": "d", "lat": 0.5, "score": 0.9}]
    assert pareto_front(pts, higher_is_better=True) == ["d"]
    assert pareto_front(pts, higher_is_better=False) == ["d", "a"]
    assert pareto_front(pts[:3], higher_is_better=True) == ["a", "b"]


def test_one_page_per_task_and_an_index(tmp_path):
    folder = write_records(tmp_path / "run", [make_record("gru", "d", 0, {"a": 0.8}),
                                              make_record("gru", "w", 0, {"a": 0.2}, task="speech_phonemes",
                                                      metric="per", higher_is_better=False)])
    pages = build_pages(folder)
    assert [p.name for p in pages] == ["page_reaching_velocity.html", "page_speech_phonemes.html", "index.html"]
    assert "lower is better" in pages[1].read_text() and 'href="page_speech_phonemes.html"' in pages[2].read_text()


def test_clear_errors(tmp_path):
    with pytest.raises(BenchError, match=r"No records in .*empty/records"):
        build_pages(tmp_path / "empty")
    folder = leaderboard(tmp_path / "run")
    with pytest.raises(BenchError, match=r"--reference 'lstm' is no model label .*gru"):
        build_pages(folder, reference="lstm")
    (folder / "records" / "broken.json").write_text("{")
    with pytest.raises(BenchError, match="broken.json cannot be read as JSON"):
        build_pages(folder)
    assert not (folder / "index.html").exists()  # nothing half-written


def test_records_without_scores_show_parameters_and_latency_only(tmp_path):
    recs = [make_record(m, "d", 0, {}, latency_ms=lat).model_copy(update={"protocol": "latency", "summary": None})
            for m, lat in (("gru", 0.2), ("wiener", 0.03))]
    html = build_pages(write_records(tmp_path / "run", recs))[0].read_text()
    assert rows(html) == ["gru", "wiener"] and 'data-key="d-d"' not in html and 'id="scatter"' not in html
    assert "hold no scores" in html and 'data-key="cpu"' in html and "Paired comparison" not in html


def test_the_command_writes_the_page_and_errors_are_one_paragraph(tmp_path, capsys):
    from bench.cli import main

    assert main(["page", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No records in") and "Traceback" not in err and err.count("\n") == 1
    folder = leaderboard(tmp_path / "run")
    assert main(["page", str(folder), "--reference", "none"]) == 0
    assert f"wrote {folder / 'index.html'}" in capsys.readouterr().out
    assert "Paired comparison" not in (folder / "index.html").read_text()


def test_an_older_record_of_the_same_run_is_set_aside_and_counted(tmp_path):
    old = make_record("gru", "d", 0, {"a": 0.1})
    old = old.model_copy(update={"key": "0000000000", "provenance": {**old.provenance, "created": "2020-01-01T00:00:00"}})
    new = make_record("gru", "d", 0, {"a": 0.9})
    new = new.model_copy(update={"provenance": {**new.provenance, "created": "2026-01-01T00:00:00"}})
    html = build_pages(write_records(tmp_path / "run", [old, new]))[0].read_text()
    assert rows(html) == ["gru"] and "0.900" in html and "0.100" not in html
    assert "1 older record(s) of the same runs" in html and "0000000000" not in html
