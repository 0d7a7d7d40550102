"""Training settings shared by every torch decoder (validated from the suite's ``train`` block)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epochs: int = Field(100, ge=1, le=100_000, description="maximum number of passes over the training windows")
    batch_size: int = Field(32, ge=1, le=65_536)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    optimizer: Literal["adamw", "lamb"] = Field(
        "adamw", description="adamw, or lamb (per-tensor trust ratio; the POYO / POSSM authors' optimiser): "
        "bench.training.optimizers")
    schedule: Literal["cosine", "flat_cosine", "constant"] = Field(
        "flat_cosine", description="flat_cosine: constant for the first half, cosine decay after (POSSM)"
    )
    warmup_epochs: int = Field(0, ge=0, le=100_000)
    patience: int = Field(15, ge=1, le=100_000, description="stop after this many epochs without a better valid loss")
    grad_clip: float | None = Field(1.0, gt=0)
    window_s: float | None = Field(
        None, gt=0, le=86_400, description="crop training segments into windows of this length; None = whole segments"
    )
    window_step_s: float | None = Field(None, ge=1e-3, le=86_400, description="stride of the windows (default window_s / 2)")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock cap per training run")
    min_epochs: int = Field(
        0, ge=0, le=100_000, description="early stopping never ends training before this many epochs, and the kept "
        "weights are of an epoch from this one on (0: any epoch, the behaviour before the setting existed)",
    )
    select_on_valid: bool = Field(
        True, description="keep the weights of the best validation epoch and stop early after `patience` epochs "
        "without improvement; false: train every epoch and keep the last weights (no validation split needed)",
    )

    @model_validator(mode="after")
    def _min_epochs_within_cap(self) -> "TrainConfig":
        if self.min_epochs > self.epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) exceeds epochs ({self.epochs}); "
                             "raise epochs or lower min_epochs")
        return self
