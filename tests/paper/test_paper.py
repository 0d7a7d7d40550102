"""`bench paper` on tiny records written here: cells, marks, published figures beside, missing
folders, the latency figure's points, efficiency curves, and bad input (nothing written)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from bench.cli import main
from bench.errors import BenchError, DataError
from bench.paper.build import render_paper, write_paper
from bench.paper.published import PUBLISHED_FILE, load_published
from tests.paper.records_factory import CurvePoint, lat, record, session, write

@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")  # render_paper leaves its figures open for the writer


FIT_AT_CAP = {"best_epoch": 9, "epochs_run": 10, "stopped_early": False, "hit_time_cap": False}


def _row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| `{label}` |"))


@pytest.fixture
def nhp_results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    write(results, "nhp",
          record("gru", "c_co_2016", 0, [session("c/a", 0.80), session("c/b", 0.90)]),
          record("gru", "c_co_2016", 1, [session("c/a", 0.82), session("c/b", 0.92)]),
          record("mlp", "c_co_2016", 0, [session("c/a", 0.70), session("c/b", 0.74)]),
          record("possm-gru", "c_co_2016", 0, [session("c/a", 0.5, fit=FIT_AT_CAP), session("c/b", 0.6)], stream=0.3),
          record("possm-gru", "c_co_2016", 1, [session("c/a", 0.5), session("c/b", 0.6)]),
          record("poyo-ss", "c_co_2016", 0, [], trained=False),
          record("poyo-ss", "c_co_2016", 1, [], trained=False),
          record("s4d", "t_rt", 0, [session("t/a", 0.7)], status="failed"),
          record("s4d", "t_rt", 1, [session("t/a", 0.7)]))
    return results


def test_nhp_cells_beside_published_with_marks(nhp_results: Path, tmp_path: Path):
    written = write_paper(nhp_results, tmp_path / "paper")
    text = (tmp_path / "paper" / "paper.md").read_text()
    assert {p.name for p in written} == {"paper.md", "latency_vs_params.png"}
    assert (tmp_path / "paper" / "latency_vs_params.png").read_bytes()[:4] == b"\x89PNG"
    gru = _row(text, "gru")
    # session means over seeds 0.81 and 0.91: mean 0.860, SD 0.071; the paper's GRU 0.938 beside
    assert "0.860 ± 0.071 · paper 0.938" in gru and "| GRU |" in gru
    assert "0.720 ± 0.028 [fewer seeds] · paper 0.921" in _row(text, "mlp")
    possm = _row(text, "possm-gru")
    assert "[INVALID stream]" in possm and "[unconverged]" in possm and "paper 0.944" in possm
    assert "no score [untrained] · paper 0.929" in _row(text, "poyo-ss")
    s4d = _row(text, "s4d")
    assert "no score [failed]" in s4d and "not run" in s4d  # failed seed: no number; c_co_2016 never ran
    assert "- *INVALID stream* `possm-gru` on c_co_2016: max |streamed - offline| 0.3 > tolerance 0.001" in text
    assert "- *fewer seeds* `mlp` on c_co_2016: 1 of 2 seeds (the most in this table)" in text
    assert "| `o-possm-s4d-ft` | o-POSSM-S4D (FT) | not run · paper 0.951" in text
    against = text[text.index("**Against the `gru`**"):]
    # mlp minus gru on (c/a, 0) and (c/b, 0): -0.10, -0.16; t-interval over the two sessions
    assert _row(against, "mlp") == "| `mlp` | -0.130 [-0.511, +0.251] (n = 2) | — | — | — | — |"
    assert _row(against, "poyo-ss") == "| `poyo-ss` | — | — | — | — | — |"  # untrained: nothing to pair
    for section in ("handwriting", "speech", "transfer"):
        assert f"no results yet: results/{section} does not exist" in text or section == "transfer"
    assert "no results yet: no records in results/transfer*/" in text


def test_empty_results_folder_renders_every_section(tmp_path: Path):
    (tmp_path / "results" / "nhp" / "records").mkdir(parents=True)
    text, figures = render_paper(tmp_path / "results")
    assert "results/nhp/records holds no record" in text
    assert "No latency records at 50 ms chunks yet" in text
    assert "| PCA-KNN | `pca-knn` | 81.36 ± 7.53 |" in text and "| GRU | `speech-gru` | 30.06 |" in text
    assert set(figures) == {"latency_vs_params.png"}


def test_handwriting_and_speech_tables(tmp_path: Path):
    results = tmp_path / "results"
    hw = dict(metric="accuracy", task="handwriting_character", suite="handwriting")
    write(results, "handwriting",
          record("pca-knn", "handwriting_sim", 0, [session("h/1", 0.80, "accuracy"), session("h/2", 0.90, "accuracy")], **hw),
          record("possm-gru", "handwriting_sim", 0, [session("h/1", 0.03, "accuracy"), session("h/2", 0.04, "accuracy")],
                 **hw, epochs=4))
    sp = dict(metric="per", task="speech_phonemes", suite="speech", higher=False)
    write(results, "speech",
          record("speech-gru", "t12_sim", 0, [session("s/1", 0.30, "per", edit_distance=30, reference_length=100,
                                                      per_ci_low=0.25, per_ci_high=0.35),
                                              session("s/2", 0.40, "per", edit_distance=120, reference_length=300,
                                                      per_ci_low=0.36, per_ci_high=0.44)], **sp),
          record("speech-gru", "t12_sim", 1, [session("s/1", 0.32, "per", edit_distance=32, reference_length=100,
                                                      per_ci_low=0.27, per_ci_high=0.38),
                                              session("s/2", 0.38, "per", edit_distance=114, reference_length=300,
                                                      per_ci_low=0.33, per_ci_high=0.42)], **sp))
    text, _ = render_paper(results)
    assert "85.0 ± 7.1 (2)" in _row(text, "pca-knn") and "81.36 ± 7.53" in _row(text, "pca-knn")
    possm = _row(text, "possm-gru")
    assert "3.5 ± 0.7" in possm
    speech = next(line for line in text.splitlines() if line.startswith("| `speech-gru` |"))
    # pooled per seed: 150/400 = 37.5 %, 146/400 = 36.5 % -> 37.0 ± 0.7; widest per-session intervals
    assert "37.0 ± 0.7 (2 seeds)" in speech and "1 31.0 [25.0–38.0]" in speech and "2 39.0 [33.0–44.0]" in speech
    assert speech.endswith("| 30.06 |")


def test_latency_points_from_records(tmp_path: Path):
    results = tmp_path / "results"
    write(results, "latency", record("gru", "c_co_2016", 0, [], latency=lat(0.2), n_parameters=250_000, suite="latency"),
          record("possm-gru", "c_co_2016", 0, [], latency=lat(0.4, chunk_ms=20.0), suite="latency"))
    write(results / "latency", "gpu", record("gru", "c_co_2016", 0, [], latency={**lat(9.9), **lat(0.05, device="cuda")},
                                             n_parameters=250_000, suite="gpu_check"))
    text, figures = render_paper(results)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert "| `gru` | CPU | 250,000 | 0.200 | 0.400 | 1 | results/latency | — |" in rows  # the protocol's wins
    assert "| `gru` | GPU | 250,000 | 0.050 | 0.100 | — | results/latency/gpu | GRU: 0.3 |" in rows
    assert not any("possm-gru" in r for r in rows)  # a 20 ms chunk is not the paper's 50 ms
    assert "No GPU latency in the records" not in text
    assert "latency_vs_params.png" in figures


def test_transfer_efficiency_curves_and_rows(tmp_path: Path):
    results = tmp_path / "results"

    def curve(rid, values):
        return session(rid, values[-1], points=[CurvePoint(setting={"train_trials": n}, metrics={"r2": v},
                                                           train_seconds=1.0) for n, v in zip((8, 16, 32), values)])

    write(results, "transfer",
          record("o-possm-ft", "t_rt", 0, [curve("t/a", (0.5, 0.6, 0.7)), curve("t/b", (0.7, 0.8, 0.9))],
                 protocol="efficiency"))
    write(results, "transfer_finetune",  # every results/transfer*/ folder is read
          record("o-possm-s4d-ft", "c_co_2016", 0, [session("c/a", 0.9), session("c/b", 0.8)], protocol="finetune"))
    text, figures = render_paper(results)
    assert "| t_rt | train_trials | 8 | `o-possm-ft` | 0.600 |" in text
    assert "transfer_efficiency.png" in figures
    assert "0.850 ± 0.071 · paper 0.951" in _row(text, "o-possm-s4d-ft")  # the fine-tuned row in the NHP table
    assert "| `o-possm-s4d-ft` | finetune | c_co_2016 | r2 | 0.850 ± 0.071 |" in text


def test_bad_record_stops_before_anything_is_written(nhp_results: Path, tmp_path: Path):
    out = tmp_path / "paper"
    write_paper(nhp_results, out)
    before = (out / "paper.md").read_text()
    bad = nhp_results / "nhp" / "records" / "zz__c_co_2016__seed0__0000000000.json"
    bad.write_text('{"format": 2, "suite": "nhp"')
    with pytest.raises(DataError, match="zz__c_co_2016__seed0__0000000000.json"):
        write_paper(nhp_results, out)
    assert (out / "paper.md").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["latency_vs_params.png", "paper.md"]  # no temp file left


def test_cli_errors_are_one_paragraph(tmp_path: Path, capsys):
    assert main(["paper", "--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nowhere does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "results").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BenchError, match="is a file"):
        write_paper(tmp_path / "results", tmp_path / "file")


def test_published_file_is_validated(tmp_path: Path):
    pub = load_published()
    assert [c.dataset for c in pub.nhp.columns] == ["c_co_2016", "c_co_2010", "t_co", "t_rt", "h_co"]
    bad = tmp_path / "published.yaml"
    text = PUBLISHED_FILE.read_text().replace("[0.938, 0.731, 0.819, 0.717, 0.693]", "[0.938]")
    bad.write_text(text)
    with pytest.raises(DataError, match="nhp"):
        load_published(bad)
    bad.write_text(text.replace("[0.938]", "[0.938, 0.731, 0.819, 0.717, 0.693]").replace("source: secondary", "source: x"))
    with pytest.raises(DataError, match="sources"):
        load_published(bad)


def _finetune(label: str, dataset: str, seed: int, per_session: dict, modes=("ft",), seen=(), sizes=("all",)):
    """A finetune record as the protocol writes it: per session, one point per mode and size."""
    sessions = []
    for rid, by_mode in per_session.items():
        points = [CurvePoint(setting={"mode": m, "train_trials": n, "n_train": 80}, metrics={"r2": by_mode[m] - 0.1 * i},
                             fit={"best_epoch": 3, "epochs_run": 8, "stopped_early": True}, train_seconds=1.0)
                  for i, n in enumerate(reversed(sizes)) for m in modes]
        sessions.append(session(rid, by_mode[modes[0]], points=points))
    rec = record(label, dataset, seed, sessions, protocol="finetune", suite="transfer_nhp")
    return rec.model_copy(update={"scores": {"modes": list(modes), "seen_in_pretraining": list(seen)}})


def test_finetuned_rows_per_mode_beside_the_published_pretrained_rows(nhp_results: Path):
    write(nhp_results, "transfer_nhp",
          _finetune("o-possm-gru", "c_co_2016", 0, {"c/a": {"ui": 0.70, "ft": 0.90}, "c/b": {"ui": 0.60, "ft": 0.80}},
                    modes=("ui", "ft"), seen=("c/a", "c/b"), sizes=(8, "all")),
          _finetune("poyo-mp-ft", "t_co", 0, {"t/a": {"ft": 0.75}}),
          _finetune("poyo-mp-ft", "h_co", 0, {"h/a": {"ft": 0.65}}),
          _finetune("o-possm-gru", "t_rt", 0, {"t/a": {"ft": 0.5}}, sizes=(8, 32)))  # no 'all': no table row
    text, _ = render_paper(nhp_results)
    nhp = text.split("## NHP reaching")[1].split("\n## ")[0]
    ft = _row(nhp, "o-possm-gru-ft")  # label + mode; the all-trials points, not the 8-trial ones
    assert "| o-POSSM-GRU (FT) |" in ft and "0.850 ± 0.071 [fewer seeds] [seen in pretraining] · paper —" in ft
    assert "0.650 ± 0.071 [fewer seeds] [seen in pretraining] · paper —" in _row(nhp, "o-possm-gru-ui")
    assert ft.split(" | ")[5] == "not run · paper —"  # t_rt: a size sweep without 'all' gives no cell
    poyo = _row(nhp, "poyo-mp-ft")
    assert "| POYO-mp + Finetune (POYO paper) |" in poyo and "not run · paper 0.971" in poyo
    assert "0.750 ± 0.000 [fewer seeds] · paper 0.938" in poyo and "0.650 ± 0.000 [fewer seeds] · paper —" in poyo
    assert "- *seen in pretraining* `o-possm-gru-ft` on c_co_2016: 2 of 2 session(s) (c/a, c/b)" in nhp
    assert "- **o-POSSM-GRU (FT)**: the NHP table as transcribed here" in nhp  # how the published row maps
    assert "- **POYO-mp + Finetune (POYO paper)**: POYO's Table 2" in nhp
    # the reference comparison pairs the FT row with the GRU over (session, seed)
    against = nhp.split("**Against the `gru`**")[1]
    assert "(n = 2)" in _row(against, "o-possm-gru-ft")  # (c/a, seed 0) and (c/b, seed 0)
