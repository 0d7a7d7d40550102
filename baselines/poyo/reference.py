"""Per-chunk streaming latency: our POYO (``baselines.poyo``) against torch_brain 0.1.2's POYO.

    python -m baselines.poyo.reference [--configs poyo-ss poyo-mp] [--n-chunks 300]

One process, CPU, ``torch.set_num_threads(1)``, batch 1, 1 s context, 50 ms chunks of the test
segments of one simulated session (c_co_2016, default scale). Both models are built at the same
configuration (dim, depth, heads, head width, latents per step, latent step, RoPE periods) with
untrained weights: weights do not change the cost of a step.

* ours: ``POYODecoder.step`` (cached rotated spike keys/values, delimiters re-rotated, latents and
  decoder recomputed; see the module docstring of :mod:`baselines.poyo`);
* torch_brain: what its public ``POYO.forward`` needs per chunk to give the same outputs: the last
  1 s of spikes (clipped at the stream start) re-tokenised (spikes, START/END tokens of every unit,
  the latent grid, the chunk's output queries, times relative to the window start) and the whole
  model run on it. Token assembly is timed for both, as a streaming decoder must do it.

Each model is timed with :func:`bench.latency.measure_step_latency` in interleaved rounds (so that
load drifts of a shared machine hit both alike); the samples of all rounds are pooled. Prints
median / p90 per chunk and the ratio ours / theirs. Without torch_brain it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bench.latency import measure_step_latency
from bench.models.base import SpikeChunk, chunk_segment
from bench.tasks.reaching import ReachingVelocity


def _session(preset: str, cache_dir: Path | None):
    from bench.data.storage import load_recording
    from bench.data.simulators.nhp import SimulatorParams, SimulatorSource

    source = SimulatorSource(SimulatorParams(preset=preset), cache_dir=cache_dir)
    return load_recording(source.materialize(progress=False)[0])


def build_ours(name: str, data):
    """Our decoder with an untrained network, ready to stream (what ``fit`` sets up)."""
    from bench import registry

    cls = registry.models.get(name)
    model = cls(cls.Params(), seed=0)
    model.spec, model.chunk_s = data.spec, data.chunk_s
    model.target_mean = np.zeros(data.spec.dim, np.float32)
    model.target_std = np.ones(data.spec.dim, np.float32)
    torch.manual_seed(0)
    model.module = model.build([data])
    model.module.eval()
    return model


class TorchBrainStream:
    """torch_brain's POYO driven chunk by chunk over a sliding 1 s window (batch 1)."""

    def __init__(self, params, recording, n_out: int):
        from torch_brain.models import POYO
        from torch_brain.registry import DataType, ModalitySpec

        p = params
        spec = ModalitySpec(id=0, dim=n_out, type=DataType.CONTINUOUS, timestamp_key="t", value_key="v",
                            loss_fn=torch.nn.MSELoss())
        self.model = POYO(
            sequence_length=p.context_s, readout_spec=spec, latent_step=p.latent_step,
            num_latents_per_step=p.latents_per_step, dim=p.dim, depth=p.depth, dim_head=p.dim_head,
            cross_heads=p.cross_heads, self_heads=p.self_heads, t_min=p.t_min, t_max=p.t_max,
        )
        names = [f"u{u}" for u in recording.unit_ids.tolist()]
        self.model.unit_emb.initialize_vocab(names)
        self.model.session_emb.initialize_vocab(["session"])
        self.model.eval()
        self.unit_index = np.asarray(self.model.unit_emb.tokenizer(names), np.int64)
        self.session_index = int(self.model.session_emb.tokenizer("session"))
        self.context_s = p.context_s
        n_groups = int(round(p.context_s / p.latent_step))
        self.latent_index = torch.arange(p.latents_per_step).repeat(n_groups).unsqueeze(0)
        self.latent_offsets = np.repeat((np.arange(n_groups) + 0.5) * p.latent_step, p.latents_per_step)

    def n_parameters(self) -> int:
        return sum(p.numel() for n, p in self.model.named_parameters() if not n.startswith(("unit_emb", "session_emb")))

    def reset(self) -> None:
        self.origin = None
        self.times = np.zeros(0)
        self.units = np.zeros(0, np.int64)

    def step(self, chunk: SpikeChunk) -> np.ndarray:
        if self.origin is None:
            self.origin = chunk.start
        ws = max(self.origin, chunk.end - self.context_s)
        keep = self.times >= ws
        self.times = np.concatenate([self.times[keep], chunk.spike_times])
        self.units = np.concatenate([self.units[keep], chunk.spike_units])
        n_u, n_s = self.unit_index.size, self.times.size
        unit = np.concatenate([self.unit_index[self.units], self.unit_index, self.unit_index])
        kind = np.repeat(np.array([0, 1, 2]), [n_s, n_u, n_u])
        t = np.concatenate([self.times - ws, np.zeros(n_u), np.full(n_u, chunk.end - ws)])
        lat_t = chunk.end - self.context_s - ws + self.latent_offsets
        q = chunk.query_times - ws
        out = self.model(
            input_unit_index=torch.from_numpy(unit).unsqueeze(0),
            input_timestamps=torch.from_numpy(t).float().unsqueeze(0),
            input_token_type=torch.from_numpy(kind).unsqueeze(0),
            input_mask=torch.ones(1, unit.size, dtype=torch.bool),
            latent_index=self.latent_index,
            latent_timestamps=torch.from_numpy(lat_t).float().unsqueeze(0),
            output_session_index=torch.full((1, q.size), self.session_index, dtype=torch.long),
            output_timestamps=torch.from_numpy(q).float().unsqueeze(0),
            output_mask=torch.ones(1, q.size, dtype=torch.bool),
        )
        return out[0].numpy()


def run(configs: Sequence[str], preset: str = "c_co_2016", n_chunks: int = 300, warmup: int = 20,
        rounds: int = 3, cache_dir: Path | None = None, log=print) -> list[dict] | None:
    try:
        import torch_brain
        from torch_brain.models import POYO  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install of its dependencies
        log(f"torch_brain is not importable ({type(exc).__name__}: {exc}); skipping the POYO reference benchmark.")
        return None
    if not torch_brain.__version__.startswith("0.1."):  # 0.2 (the torchbrain extra) has another POYO API
        log(f"torch_brain {torch_brain.__version__} is installed; the reference is 0.1.2 (the reference extra); skipping.")
        return None
    torch.set_num_threads(1)
    rec = _session(preset, cache_dir)
    data = ReachingVelocity().prepare(rec, 0.05)
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    rate = rec.spike_times.size / rec.duration
    log(f"{rec.recording_id}: {rec.n_units} units, {rate:.0f} spikes/s (~{rate + 2 * rec.n_units:.0f} tokens "
        f"per 1 s window), {len(chunks)} test chunks of 50 ms; 1 thread, batch 1; {rounds} interleaved rounds "
        f"of {n_chunks // rounds} timed chunks after {warmup} warm-up")
    rows = []
    for name in configs:
        ours = build_ours(name, data)
        theirs = TorchBrainStream(ours.params, rec, data.spec.dim)
        samples: dict[str, list[np.ndarray]] = {"ours": [], "theirs": []}
        for _ in range(rounds):
            for label, step, reset in (
                ("ours", ours.step, lambda: ours.reset(rec)),
                ("theirs", theirs.step, theirs.reset),
            ):
                stats = measure_step_latency(step, chunks, warmup=warmup, n_timed=n_chunks // rounds, threads=1,
                                             reset=reset)
                samples[label].append(stats.samples_ms)
        a, b = np.concatenate(samples["ours"]), np.concatenate(samples["theirs"])
        row = {
            "config": name, "params_ours": ours.n_parameters(), "params_theirs": theirs.n_parameters(),
            "n_chunks": int(a.size),
            "ours_median_ms": float(np.median(a)), "ours_p90_ms": float(np.percentile(a, 90)),
            "theirs_median_ms": float(np.median(b)), "theirs_p90_ms": float(np.percentile(b, 90)),
        }
        row["ratio_median"] = row["ours_median_ms"] / row["theirs_median_ms"]
        row["ratio_p90"] = row["ours_p90_ms"] / row["theirs_p90_ms"]
        rows.append(row)
    header = ("| config | params ours | params torch_brain | chunks | ours median ms | ours p90 ms "
              "| torch_brain median ms | torch_brain p90 ms | ours/theirs median | ours/theirs p90 |")
    log(header)
    log("|" + "---|" * 10)
    for r in rows:
        log(f"| {r['config']} | {r['params_ours']:,} | {r['params_theirs']:,} | {r['n_chunks']} "
            f"| {r['ours_median_ms']:.2f} | {r['ours_p90_ms']:.2f} | {r['theirs_median_ms']:.2f} "
            f"| {r['theirs_p90_ms']:.2f} | {r['ratio_median']:.2f} | {r['ratio_p90']:.2f} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=["poyo-ss", "poyo-mp"])
    ap.add_argument("--preset", default="c_co_2016")
    ap.add_argument("--n-chunks", type=int, default=300, help="timed chunks per model (pooled over rounds)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    run(args.configs, args.preset, args.n_chunks, args.warmup, args.rounds, args.cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
