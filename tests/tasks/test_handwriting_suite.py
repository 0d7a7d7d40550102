"""Every decoder family classifies characters through the suite path (one epoch, tiny sizes):
PCA-KNN, ridge, recurrent, POSSM, and the sliding-window transformers POYO and NDT-2."""

from __future__ import annotations

import numpy as np

SUITE = """
name: hw_all
task: handwriting_character
chunk_ms: 50
seeds: [0]
train: {epochs: 1, batch_size: 16}
latency: {threads: 1, warmup: 2, n_chunks: 10}
datasets:
  - {name: tiny, source: handwriting_simulator, params: {n_sessions: 1, trials_per_character: 3, n_electrodes: 16}}
models:
  - {name: pca-knn, params: {k: 3}}
  - {name: wiener, params: {n_lags: 29}}
  - {name: gru, params: {hidden: 16, embed_dim: 8}}
  - {name: possm-gru, params: {dim: 16, dim_head: 8, hidden: 16, enc_heads: 1, dec_heads: 1}}
  - {name: poyo-ss, params: {dim: 16, depth: 1, dim_head: 8, cross_heads: 1, self_heads: 2, latents_per_step: 2, ff_mult: 1}}
  - {name: ndt2, params: {dim: 16, heads: 2, layers: 1, decoder_layers: 1, ffn_dim: 16, patch_size: 8}}
"""


def test_every_decoder_family_scores_handwriting_through_a_suite(tmp_path):
    from bench.results.records import load_records
    from bench.suite.schedule import run_suite

    path = tmp_path / "hw.yaml"
    path.write_text(SUITE)
    out = run_suite(path, out=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False, compare=False,
                    log=lambda *_: None)
    records = {r.label: r for r in load_records(out)}
    assert set(records) == {"pca-knn", "wiener", "gru", "possm-gru", "poyo-ss", "ndt2"}
    for label, r in records.items():
        assert r.trained and r.task == "handwriting_character", label
        assert 0.0 <= r.summary.mean <= 1.0 and r.sessions[0].metrics["n_samples"] == 31, label
        assert np.array(r.sessions[0].metrics["confusion"]).sum() == 31, label
        assert r.latency["cpu"]["max_ms"] > 0, label
        if label in ("pca-knn", "wiener", "gru"):  # one query per trial: streamed == offline was checked
            assert r.streaming_max_abs_diff is not None and r.streaming_max_abs_diff < 1e-4, label
