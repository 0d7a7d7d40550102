"""The speech-BCI baseline (Willett et al. 2023): day-specific input layers, strided unfolding of
input bins and a causal recurrent network with a CTC head; GRU, S4D and Mamba on the same inputs.

Pipeline per 20 ms bin: the bin's features (threshold crossings and / or spike-band power, see
``bench.models.binned``), z-scored with the statistics of the recording's training trials ->
the recording's own input layer (linear n -> n, softsign; one per day, identity at start) -> the
last ``unfold_kernel`` bins flattened into one frame every ``unfold_stride`` bins (bins before the
trial count as zero) -> backbone (``bench.nn.backbones``) -> linear head over the 41 phoneme
classes. A query reads the frame of the latest completed unfold step, which a streaming decoder
has computed once its chunk arrived, so streaming equals offline.

Training-time augmentation as in the original: white noise (SD ``white_noise_sd`` in z-scored
units, per bin and channel) and a constant offset per trial and channel (SD ``constant_offset_sd``).
Differences from the original: the CTC loss is computed on the per-chunk frames (each unfold
frame repeated over the bins it covers) rather than on the strided frames; features are z-scored
per recording, not per block; default sizes are reduced for CPU (preset ``speech-gru-paper``:
5 x 512 like the 2023 model).
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.errors import DataError
from bench.models.base import SpikeChunk
from bench.models.binned import BinnedMixin, BinnedParams, query_bins
from bench.models.presets import Preset
from bench.models.torch_decoder import TorchDecoder
from bench.nn.backbones import make_backbone
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.training.config import TrainConfig
from bench.training.memory import peak_rss


class SpeechRNNParams(BinnedParams):
    bin_ms: float = Field(20.0, gt=0, description="bin width in ms (the recordings' 20 ms)")
    input_streams: list[str] = Field(
        ["threshold_crossings"], min_length=1,  # a plain default (copied per instance) so presets can set it
        description="feature streams side by side: threshold_crossings and / or spike_band_power",
    )
    backbone: Literal["gru", "s4d", "mamba"] = "gru"
    hidden: int = Field(256, ge=1, description="GRU hidden size / SSM d_model")
    layers: int = Field(2, ge=1)
    d_state: int = Field(64, ge=1, description="SSM state size (S4D N, Mamba d_state)")
    expand: int = Field(2, ge=1, description="Mamba expansion factor")
    dropout: float = Field(0.2, ge=0, lt=1)
    day_layers: bool = Field(True, description="one input layer (linear + softsign) per recording day")
    unfold_kernel: int = Field(14, ge=1, description="bins flattened into one frame")
    unfold_stride: int = Field(4, ge=1, description="bins between frames")
    white_noise_sd: float = Field(1.0, ge=0, description="training noise per bin and channel (z-scored units)")
    constant_offset_sd: float = Field(0.2, ge=0, description="training offset per trial and channel")


class SpeechRNNNet(nn.Module):
    def __init__(self, n_in: int, n_days: int, p: SpeechRNNParams, n_out: int):
        super().__init__()
        self.kernel, self.stride = p.unfold_kernel, p.unfold_stride
        n_layers = n_days if p.day_layers else 1
        self.day_weight = nn.Parameter(torch.eye(n_in).repeat(n_layers, 1, 1))
        self.day_bias = nn.Parameter(torch.zeros(n_layers, n_in))
        self.in_dropout = nn.Dropout(p.dropout)
        self.backbone = make_backbone(p.backbone, n_in * p.unfold_kernel, p.hidden, p.layers, p.d_state, p.expand,
                                      p.dropout)
        self.head = nn.Linear(self.backbone.out_dim, n_out)

    def day_input(self, x: torch.Tensor, day: torch.Tensor) -> torch.Tensor:
        """x (B, T, n) z-scored, day (B,) layer index -> (B, T, n)."""
        y = torch.einsum("btn,bnm->btm", x, self.day_weight[day]) + self.day_bias[day][:, None]
        return nn.functional.softsign(y)

    def frames(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, n) -> (B, ceil(T / stride), kernel * n): frame k = bins [k*stride - kernel + 1, k*stride]."""
        padded = nn.functional.pad(h, (0, 0, self.kernel - 1, 0))
        win = padded.unfold(1, self.kernel, self.stride)  # (B, F, n, kernel)
        return win.transpose(2, 3).flatten(2)

    def forward(self, x: torch.Tensor, day: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(self.frames(self.in_dropout(self.day_input(x, day)))))


class SpeechRNNDecoder(BinnedMixin, TorchDecoder):
    """Causal recurrent CTC decoder for attempted speech (backbone chosen by ``backbone``)."""

    Params = SpeechRNNParams
    supported_kinds = frozenset({TaskKind.sequence})
    embedding_prefixes = ("day_weight", "day_bias")
    multi_session = True  # one model over all days: the day layers need every day at once

    def build(self, sessions: Sequence[TaskData]) -> nn.Module:
        self.plan_inputs(sessions[0])
        self.days: dict[str, int] = {}
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for d in sessions:
            rec = d.recording
            if self.segment_width(d) != self.n_inputs:
                raise DataError(
                    f"Model '{self.registry_name}': recording {rec.path or rec.recording_id} has "
                    f"{self.segment_width(d)} input channels in {self.params.input_streams}, but the first "
                    f"recording has {self.n_inputs}; one model needs the same features on every day."
                )
            x = np.concatenate([self.segment_inputs(s) for s in d.segments("train")])
            self.days[rec.recording_id] = len(self.days) if self.params.day_layers else 0
            self.stats[rec.recording_id] = (x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-3).astype(np.float32))
        return SpeechRNNNet(self.n_inputs, len(sessions), self.params, self.spec.dim)

    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        """The shared fit, with the training's peak resident memory in the report (the issue asks
        for the GRU's; bench.training.memory)."""
        with peak_rss() as memory:
            report = super().fit(sessions, train, progress)
        return {**report, **memory}

    def segment_width(self, data: TaskData) -> int:
        from bench.models.binned import plan_reads

        return sum(r.width for r in plan_reads(data.recording, self.params.input_streams, self.bin_s))

    def _day(self, rec) -> tuple[int, np.ndarray, np.ndarray]:
        if rec.recording_id not in self.days:
            raise DataError(
                f"Model '{self.registry_name}' has no input layer for recording {rec.path or rec.recording_id}: "
                f"it was trained on {', '.join(self.days)}; day-specific layers need the day in training."
            )
        mean, std = self.stats[rec.recording_id]
        return self.days[rec.recording_id], mean, std

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        day, mean, std = self._day(seg.recording)
        x = (self.segment_inputs(seg) - mean) / std
        q = query_bins(seg.start, seg.query_times, self.bin_s, x.shape[0])
        return {"x": x.astype(np.float32), "query_frame": q // self.params.unfold_stride,
                "day": np.asarray(day, np.int64)}

    def augment(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        p, x = self.params, batch["x"]
        if not (p.white_noise_sd or p.constant_offset_sd):
            return batch
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        noise = torch.randn(x.shape, generator=gen) * p.white_noise_sd
        offset = torch.randn((x.shape[0], 1, x.shape[2]), generator=gen) * p.constant_offset_sd
        return {**batch, "x": x + noise + offset}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.module(batch["x"], batch["day"])
        idx = batch["query_frame"].clamp_max(out.shape[1] - 1).unsqueeze(-1).expand(-1, -1, out.shape[-1])
        return torch.gather(out, 1, idx)

    def reset(self, recording) -> None:
        day, mean, std = self._day(recording)
        self._day_index = torch.tensor([day])
        self._mean, self._std = mean, std
        self._stepper = self.module.backbone.stepper()
        self._state = self._stepper.init_state(1)
        self._window = torch.zeros(self.params.unfold_kernel, self.n_inputs)
        self._bins_seen = 0
        self._last = None

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        x = torch.from_numpy(((self.chunk_inputs(chunk) - self._mean) / self._std).astype(np.float32))
        h = self.module.day_input(x[None].to(self.device), self._day_index.to(self.device))[0].cpu()
        outs = []
        for b in range(h.shape[0]):
            self._window = torch.cat([self._window[1:], h[b : b + 1]])
            if self._bins_seen % self.params.unfold_stride == 0:
                y, self._state = self._stepper.step(self._window.reshape(1, -1).to(self.device), self._state)
                self._last = self.module.head(y)
            self._bins_seen += 1
            outs.append(self._last)
        out = torch.cat(outs).cpu().numpy()
        return out[query_bins(chunk.start, chunk.query_times, self.bin_s, out.shape[0])]


SBP = ["threshold_crossings", "spike_band_power"]
NO_NOISE = {"white_noise_sd": 0.0, "constant_offset_sd": 0.0}
PRESETS = {
    "speech-gru": Preset({}, "Speech GRU baseline (day layers, unfold 14/4, 2 x 256), crossings, noise augmentation."),
    "speech-gru-no-noise": Preset(NO_NOISE, "Speech GRU baseline without noise augmentation."),
    "speech-gru-sbp": Preset({"input_streams": SBP}, "Speech GRU baseline on crossings + spike-band power."),
    "speech-s4d": Preset({"backbone": "s4d", "hidden": 192, "layers": 2},
                         "S4D on the speech GRU's inputs (day layers, unfold), 2 blocks of d_model 192."),
    "speech-mamba": Preset({"backbone": "mamba", "hidden": 128, "layers": 2, "d_state": 16},
                           "Mamba on the speech GRU's inputs (day layers, unfold), 2 blocks of d_model 128."),
    "speech-gru-paper": Preset({"hidden": 512, "layers": 5},
                               "Speech GRU at the 2023 paper's size (5 x 512); slow on CPU."),
}

models.register_presets(PRESETS)(SpeechRNNDecoder)
