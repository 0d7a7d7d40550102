"""One recording session as plain arrays: spikes, feature streams, behaviour, trials, splits.

Files are read and written in the brainsets / temporaldata HDF5 layout by ``bench.data.storage``.
A recording holds spikes, feature streams, or both. Without spikes (e.g. handwriting / speech
data that only have threshold crossings), its spike events are derived from a counts stream (see
``Recording``), so spike-token models read crossings as events, one token per crossing.

Models never see temporaldata objects: they consume the views in ``bench.data.views``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.data.budget import check_allocation
from bench.data.intervals import Intervals
from bench.data.validity import check_domain, check_recording
from bench.errors import DataError

BEHAVIOUR_KEYS = ("cursor", "hand", "finger")
PHASE_KEYS = ("hold_period", "reach_period", "return_period", "random_period", "invalid")
SPLITS = ("train", "valid", "test")
TASK_TYPES = ("center_out", "random_target", "unknown")
FEATURE_KINDS = ("counts", "continuous")
SPIKES = "spikes"  # the name models use for a recording's spike events (recorded or derived)
DERIVE_EVENTS_FROM = "threshold_crossings"  # preferred counts stream for derived spike events
_GRID_TOL = 1e-6


@dataclass
class Behaviour:
    """A behavioural time series sampled at ``timestamps`` (velocity always present)."""

    name: str
    timestamps: np.ndarray
    vel: np.ndarray
    pos: np.ndarray | None = None


@dataclass
class Trials:
    start: np.ndarray
    end: np.ndarray
    target_id: np.ndarray  # int, -1 where unknown
    is_valid: np.ndarray  # bool: successful trial
    # sequence labels (speech phoneme ids), (n_trials, max_len) int padded with -1; None: no labels
    labels: np.ndarray | None = None
    sentence: np.ndarray | None = None  # str (n_trials,): the text the labels spell, when known

    def __len__(self) -> int:
        return int(self.start.size)

    def label_sequence(self, i: int) -> np.ndarray:
        """Trial ``i``'s label sequence without its padding (empty when the trials carry no labels)."""
        if self.labels is None:
            return np.zeros(0, np.int64)
        row = np.asarray(self.labels[i])
        return row[row >= 0].astype(np.int64)

    def as_intervals(self, mask: np.ndarray | None = None) -> Intervals:
        m = np.ones(len(self), bool) if mask is None else mask
        return Intervals(self.start[m], self.end[m])


@dataclass
class FeatureStream:
    """A regular per-channel feature stream: binned threshold crossings, spike-band power, ...

    Bin ``i`` covers [t0 + i * bin_s, t0 + (i + 1) * bin_s). ``t0`` lies on the recording's grid
    of this bin width (t0 - domain start is a whole number of bins), so views can re-bin it onto
    the model's grid without interpolation. ``kind`` "counts": whole, non-negative event counts per
    bin (can be read as spikes); "continuous": any finite value (e.g. power). Construction checks
    all of it and raises DataError naming the stream.
    """

    name: str
    bin_s: float
    t0: float
    values: np.ndarray  # float32 (n_bins, n_channels)
    channel_ids: np.ndarray  # str (n_channels,)
    kind: str = "counts"

    def __post_init__(self) -> None:
        where = f"Feature stream '{self.name}'"
        if not self.name or self.name == SPIKES or "/" in self.name:
            raise DataError(f"{where}: invalid name; a stream name is non-empty, has no '/' and is not '{SPIKES}'.")
        if self.kind not in FEATURE_KINDS:
            raise DataError(f"{where}: kind {self.kind!r} is not one of {', '.join(FEATURE_KINDS)}.")
        if not (np.isfinite(self.bin_s) and self.bin_s > 0):
            raise DataError(f"{where}: bin width bin_s={self.bin_s!r} s must be a positive number of seconds.")
        if not np.isfinite(self.t0):
            raise DataError(f"{where}: start time t0={self.t0!r} must be finite.")
        self.bin_s, self.t0 = float(self.bin_s), float(self.t0)
        self.channel_ids = np.array([str(c) for c in np.asarray(self.channel_ids).reshape(-1)])
        values = np.asarray(self.values)
        if values.ndim != 2 or values.shape[1] != self.channel_ids.size or values.shape[0] == 0:
            raise DataError(
                f"{where}: values have shape {values.shape}; expected (n_bins >= 1, n_channels = "
                f"{self.channel_ids.size}), one column per channel id."
            )
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            raise DataError(f"{where}: values have dtype {values.dtype}; expected real numbers.")
        self.values = values.astype(np.float32, copy=False)
        bad = ~np.isfinite(self.values)
        if bad.any():
            i, c = np.argwhere(bad)[0]
            raise DataError(
                f"{where}: {int(bad.sum())} non-finite values (first at bin {i}, channel "
                f"{self.channel_ids[c]!r}: {self.values[i, c]}); fill or drop them before saving."
            )
        if self.kind == "counts":
            wrong = (self.values < 0) | (self.values != np.round(self.values))
            if wrong.any():
                i, c = np.argwhere(wrong)[0]
                raise DataError(
                    f"{where}: kind 'counts' needs whole non-negative event counts, but bin {i}, channel "
                    f"{self.channel_ids[c]!r} holds {self.values[i, c]}; use kind 'continuous' for other values."
                )

    @property
    def n_bins(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[1])

    @property
    def end(self) -> float:
        return self.t0 + self.n_bins * self.bin_s

    def events(self) -> tuple[np.ndarray, np.ndarray]:
        """A counts stream as events: one per counted crossing at its bin centre (times sorted,
        channel indices). Binned on any grid whose bins are whole numbers of stream bins, the
        events give back the stream's counts."""
        check_allocation(self.values.sum(dtype=np.float64), 16, f"Feature stream '{self.name}' as spike events",
                         "(a count far too large for one bin)")
        bins, channels = np.nonzero(self.values)
        n = self.values[bins, channels].astype(np.int64)
        times = self.t0 + (np.repeat(bins, n) + 0.5) * self.bin_s
        return times.astype(np.float64), np.repeat(channels, n).astype(np.int64)


@dataclass
class Recording:
    """A session: spikes in continuous time, feature streams, behaviour, trials, phases, splits.

    ``features`` maps each stream's name to its ``FeatureStream``. A recording without spikes
    (``unit_ids`` empty) that has a counts stream gets spike events derived from it at
    construction: the ``threshold_crossings`` stream if it is counts, else the first counts stream
    by name; one event per crossing at its bin centre, ``unit_ids`` = the stream's channel ids and
    ``events_from`` = the stream's name, ``spike_bin_s`` = its bin (None: the spikes were recorded;
    derived events are not written back to the file). With neither, ``n_units`` is 0 and only feature-stream models
    can read it. ``streams`` lists what a model can read: ``"spikes"`` and the stream names.
    """

    recording_id: str
    subject_id: str
    brainset: str
    task_type: str
    domain: Intervals
    spike_times: np.ndarray
    spike_units: np.ndarray
    unit_ids: np.ndarray
    behaviour: Behaviour | None = None
    trials: Trials | None = None
    phases: dict[str, Intervals] = field(default_factory=dict)
    outliers: Intervals = field(default_factory=Intervals.empty)
    splits: dict[str, Intervals] = field(default_factory=dict)
    path: Path | None = None
    features: dict[str, FeatureStream] = field(default_factory=dict)
    events_from: str | None = None
    # the spikes were placed inside bins of this width by the importer (from binned counts), so they
    # carry no timing finer than it; None: recorded spike times
    spike_bin_s: float | None = None
    # per-process cache of derived views (binned counts etc.), filled by bench.data.views
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_domain(self.domain, self.recording_id)
        origin = float(self.domain.start[0])
        for key, stream in self.features.items():
            if key != stream.name:
                raise DataError(f"Recording {self.recording_id}: feature stream '{stream.name}' is filed under '{key}'.")
            offset = (stream.t0 - origin) / stream.bin_s
            if abs(offset - round(offset)) > _GRID_TOL:
                raise DataError(
                    f"Recording {self.recording_id}: feature stream '{key}' starts at t0={stream.t0:g} s, "
                    f"not on the {stream.bin_s * 1000:g} ms grid anchored at the domain start {origin:g} s; "
                    "shift t0 (or the domain) by a fraction of a bin so that bins line up."
                )
        if self.unit_ids.size == 0 and self.events_from is None:
            counts = sorted(k for k, f in self.features.items() if f.kind == "counts")
            if counts:
                name = DERIVE_EVENTS_FROM if DERIVE_EVENTS_FROM in counts else counts[0]
                self.spike_times, self.spike_units = self.features[name].events()
                self.unit_ids, self.events_from = self.features[name].channel_ids.copy(), name
                if self.spike_bin_s is None:  # the events carry no timing finer than the stream's bins
                    self.spike_bin_s = self.features[name].bin_s
        check_recording(self)  # finite, sorted, in-range spikes; ordered trials and splits (bench.data.validity)

    @property
    def n_units(self) -> int:
        return int(self.unit_ids.size)

    @property
    def streams(self) -> tuple[str, ...]:
        """Inputs a model can read here: "spikes" (when there are spike events) and feature streams."""
        return ((SPIKES,) if self.n_units else ()) + tuple(sorted(self.features))

    @property
    def duration(self) -> float:
        return self.domain.duration

    def split(self, name: str) -> Intervals:
        return self.splits[name]

    def check_bin(self, width_s: float, what: str) -> None:
        """DataError unless ``width_s`` is a whole number of the bins the spikes were imported at."""
        if self.spike_bin_s is None:
            return
        ratio = width_s / self.spike_bin_s
        if round(ratio) < 1 or abs(ratio - round(ratio)) > _GRID_TOL:
            native = self.spike_bin_s * 1000
            raise DataError(
                f"Recording {self.path or self.recording_id} holds spikes imported from counts binned at {native:g} ms; "
                f"{what} of {width_s * 1000:g} ms is not a whole multiple of it, so its bins would split the imported "
                f"bins at made-up spike positions. Use a multiple of {native:g} ms (e.g. {native:g} or "
                f"{2 * native:g} ms) for model bins and the chunk (a dataset's own "
                "`chunk_ms`, a model's `dataset_params: {DATASET: {bin_ms: ...}}` in the suite)."
            )

    def spikes_between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Spike times and unit indices with start <= t < end (spike_times are sorted)."""
        lo, hi = np.searchsorted(self.spike_times, [start, end], side="left")
        return self.spike_times[lo:hi], self.spike_units[lo:hi]


def split_trials(
    trials: Trials, fractions=(0.7, 0.1, 0.2), seed: int = 42, only_valid: bool = True
) -> dict[str, Intervals]:
    """Random 70/10/20 trial split as brainsets does (seeded), returned as split intervals."""
    idx = np.flatnonzero(trials.is_valid) if only_valid else np.arange(len(trials))
    rng = np.random.default_rng(seed)
    idx = rng.permutation(idx)
    n = idx.size
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    parts = {"train": idx[:n_train], "valid": idx[n_train : n_train + n_valid], "test": idx[n_train + n_valid :]}
    return {k: Intervals(trials.start[v], trials.end[v]) for k, v in parts.items()}
