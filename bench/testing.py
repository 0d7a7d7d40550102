"""Conformance kit: does a decoder honour the harness's interface?

``check_decoder("my-model", params={...tiny sizes...})`` fits the decoder for one epoch on a tiny
simulated session per task kind it declares and checks what the runner relies on: parameters
are validated (unknown fields refused), ``fit`` runs, ``predict`` returns one (n_queries, dim)
array per segment, streaming (``reset`` + ``step`` over chunks) equals ``predict``, every segment
starts from a fresh state (alone or within a batch, streamed first or after another segment),
``n_parameters() > 0``, and the model reads the recording streams it declares and nothing else.
``check_one_query_streaming`` checks streaming at the finest chunk a user can ask for: the
behaviour's sample period, where every chunk holds at most one output query (real recordings
whose behaviour is sampled at the bin rate stream this way).
A failed check raises ``ConformanceError`` (an AssertionError) saying what was expected, so it
reads well in pytest. Plugin authors call it from their own tests; see examples/.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ValidationError

from bench import registry
from bench.data.recording import SPIKES, FeatureStream, Recording
from bench.data.simulators.nhp import SimulatorParams, session_specs, simulate_session
from bench.data.simulators.speech import DaySpec, simulate_day
from bench.data.views import bin_spikes
from bench.models.base import Decoder, InputKind, chunk_segment
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.tasks.reach_direction import ReachDirection
from bench.tasks.reaching import ReachingVelocity
from bench.tasks.speech import SpeechPhonemes
from bench.training.config import TrainConfig

CHUNK_S = 0.05
TINY_TRAIN = TrainConfig(epochs=1, batch_size=8)
# a counts stream in every tiny session, so models that read feature streams can be checked too
FEATURE_STREAM = "threshold_crossings"
CHECKABLE_KINDS = (TaskKind.regression, TaskKind.classification, TaskKind.sequence)
SEQUENCE_CHUNK_S = 0.04  # two 20 ms bins of the tiny speech day per chunk


class ConformanceError(AssertionError):
    """A decoder breaks the interface the harness relies on."""


def _fail(model: str, what: str) -> None:
    raise ConformanceError(f"Decoder '{model}': {what}")


# ---------------------------------------------------------------------------------- data


def tiny_recording(index: int = 0, n_units: int = 12, n_trials: int = 20, seed: int = 0) -> Recording:
    """A small simulated centre-out session (~45 s) with spikes and a 10 ms counts stream."""
    spec = session_specs(SimulatorParams(preset="c_co_2016", n_sessions=index + 1, n_trials=n_trials,
                                         n_neurons=n_units, seed=seed))[index]
    rec = simulate_session(spec)
    start, bin_s = float(rec.domain.start[0]), 0.01
    n_bins = int(rec.domain.duration / bin_s)
    counts = bin_spikes(rec.spike_times, rec.spike_units, rec.n_units, start, n_bins, bin_s)
    stream = FeatureStream(FEATURE_STREAM, bin_s, start, counts.astype(np.float32), rec.unit_ids, "counts")
    return replace(rec, features={**rec.features, FEATURE_STREAM: stream}, _views={})


def tiny_session(kind: TaskKind, index: int = 0, chunk_s: float | None = None) -> TaskData:
    """The tiny recording prepared for a task of ``kind`` (velocity decoding / reach direction /
    speech phonemes on a tiny simulated speech day), streamed in chunks of ``chunk_s`` (default
    ``CHUNK_S``, ``SEQUENCE_CHUNK_S`` for speech)."""
    rec = tiny_recording(index) if kind != TaskKind.sequence else None
    if kind == TaskKind.regression:
        return ReachingVelocity(ReachingVelocity.Params(eval_phase="all")).prepare(rec, chunk_s or CHUNK_S)
    if kind == TaskKind.classification:
        return ReachDirection().prepare(rec, chunk_s or CHUNK_S)
    if kind == TaskKind.sequence:
        return SpeechPhonemes().prepare(_tiny_speech_day(index), chunk_s or SEQUENCE_CHUNK_S)
    raise ConformanceError(f"The conformance kit has no tiny task of kind '{kind.value}'; "
                           f"it checks {', '.join(k.value for k in CHECKABLE_KINDS)}.")


@lru_cache(maxsize=4)
def _tiny_speech_day(index: int) -> Recording:
    """A tiny simulated speech day, made once per process (simulating it takes seconds; models only
    read recordings, so every check can share it)."""
    return simulate_day(DaySpec(f"tiny_speech_{index}", index, 0, n_blocks=2, trials_per_block=3))


# ---------------------------------------------------------------------------------- checks


def check_decoder(model: str | type[Decoder], params: Mapping | None = None,
                  kinds: Iterable[TaskKind | str] | None = None, train: TrainConfig = TINY_TRAIN,
                  atol: float = 1e-5) -> dict[TaskKind, Decoder]:
    """Run every check on ``model`` (a registered name, or a Decoder class) built with ``params``
    (keep them tiny) for each of ``kinds`` (default: the declared kinds the kit can generate).
    Returns the fitted decoder per kind; raises ConformanceError on the first broken rule."""
    cls = registry.models.get(model) if isinstance(model, str) else model
    name = model if isinstance(model, str) else (cls.registry_name or cls.__name__)
    params = dict(params or {})
    check_params(cls, params, name)
    fitted = {}
    for kind in check_kinds(cls, kinds, name):
        sessions = [tiny_session(kind)] + ([tiny_session(kind, index=1)] if cls.multi_session else [])
        decoder = cls(cls.Params(**params), seed=0)
        check_fit(decoder, sessions, train, name)
        data = sessions[0]
        segments = _contrasting_segments(data.segments("test"))
        check_predict(decoder, segments, data, name)
        check_fresh_state(decoder, segments, atol, name, data.chunk_s)
        if decoder.streams_like_predict:
            check_streaming(decoder, segments, atol, name, data.chunk_s)
        check_inputs(decoder, segments, atol, name)
        fitted[kind] = decoder
    return fitted


# The finest chunk per task kind: the behaviour's sample period (10 ms in the tiny session), the
# classification readout on the same grid, and the speech day's 20 ms bin (one frame per chunk).
ONE_QUERY_CHUNK_S = {TaskKind.regression: 0.01, TaskKind.classification: 0.01, TaskKind.sequence: 0.02}


def check_one_query_streaming(model: str | type[Decoder], params: Mapping | None = None,
                              kinds: Iterable[TaskKind | str] | None = None, train: TrainConfig = TINY_TRAIN,
                              atol: float = 1e-5) -> dict[TaskKind, float]:
    """Fit ``model`` on the tiny session of each kind streamed at ``ONE_QUERY_CHUNK_S`` (every chunk
    holds at most one output query, the readout chunk of a classification trial exactly one) and
    check that ``reset`` + ``step`` equals ``predict`` on the two shortest test segments.
    Returns the largest difference per kind. A model whose streaming deliberately differs
    (``streams_like_predict`` False) is refused: there is nothing to check. Give models with a
    bin (a ``bin_ms`` parameter) bin at the chunk unless ``params`` set ``bin_ms``."""
    cls = registry.models.get(model) if isinstance(model, str) else model
    name = model if isinstance(model, str) else (cls.registry_name or cls.__name__)
    check_params(cls, dict(params or {}), name)
    diffs = {}
    for kind in check_kinds(cls, kinds, name):
        chunk_s = ONE_QUERY_CHUNK_S[kind]
        params = dict(params or {})
        if "bin_ms" in cls.Params.model_fields:
            params.setdefault("bin_ms", chunk_s * 1000.0)
        sessions = [tiny_session(kind, chunk_s=chunk_s)]
        sessions += [tiny_session(kind, index=1, chunk_s=chunk_s)] if cls.multi_session else []
        decoder = cls(cls.Params(**params), seed=0)
        if not decoder.streams_like_predict:
            _fail(name, "streams_like_predict is False: its streaming deliberately differs from predict, so the "
                        "one-query-per-chunk check does not apply.")
        check_fit(decoder, sessions, train, name)
        segments = sorted(sessions[0].segments("test"), key=lambda s: s.duration)[:2]  # streaming 10 ms chunks is slow
        per_chunk = [c.query_times.size for seg in segments for c in chunk_segment(seg, chunk_s)]
        if max(per_chunk) != 1:
            raise ConformanceError(f"The tiny {kind.value} session at {chunk_s * 1000:g} ms chunks holds up to "
                                   f"{max(per_chunk)} queries per chunk; the one-query check needs at most one.")
        offline = decoder.predict(segments)
        if all(np.ptp(y, axis=0).max(initial=0.0) <= 1e-6 for y in offline) and kind != TaskKind.classification:
            _fail(name, f"{kind.value}: the fitted model's outputs are constant over the test segments, so "
                        "streamed == offline would prove nothing; train it longer or initialise the readout randomly.")
        worst = 0.0
        for i, (seg, off) in enumerate(zip(segments, offline)):
            streamed = decoder.stream(seg, chunk_s)
            _close(name, streamed, off, atol, f"{kind.value}: streaming segment {i} with one query per "
                                              f"{chunk_s * 1000:g} ms chunk differs from predict")
            worst = max(worst, float(np.max(np.abs(np.asarray(streamed) - off))) if off.size else 0.0)
        diffs[kind] = worst
    return diffs


def check_params(cls: type[Decoder], params: Mapping, name: str) -> BaseModel:
    """``Params`` is a pydantic model that accepts ``params`` and refuses unknown fields (so a
    suite's typo is reported, not silently ignored)."""
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, BaseModel)):
        _fail(name, f"Params must be a pydantic model class (subclass bench.models.base.ModelParams), got {cls.Params!r}.")
    try:
        validated = cls.Params(**params)
    except ValidationError as exc:
        _fail(name, f"Params rejects the parameters under test {dict(params)}: {exc}")
    try:
        cls.Params(**params, conformance_unknown_field=1)
    except ValidationError:
        return validated
    _fail(name, "Params accepts an unknown field; set model_config = ConfigDict(extra='forbid') "
                "(or derive Params from bench.models.base.ModelParams).")


def check_kinds(cls: type[Decoder], kinds: Iterable[TaskKind | str] | None, name: str) -> list[TaskKind]:
    """The declared ``supported_kinds`` are task kinds, and the kinds to check are among them."""
    declared = set(cls.supported_kinds)
    if not declared or not all(isinstance(k, TaskKind) for k in declared):
        _fail(name, f"supported_kinds must be a non-empty set of TaskKind, got {cls.supported_kinds!r}.")
    wanted = [TaskKind(k) for k in kinds] if kinds is not None else [k for k in CHECKABLE_KINDS if k in declared]
    undeclared = [k.value for k in wanted if k not in declared]
    if undeclared:
        _fail(name, f"asked to check task kinds {undeclared} it does not declare in supported_kinds "
                    f"({sorted(k.value for k in declared)}).")
    if not wanted:
        _fail(name, f"declares only {sorted(k.value for k in declared)}; the kit can check "
                    f"{[k.value for k in CHECKABLE_KINDS]}.")
    return wanted


def check_fit(decoder: Decoder, sessions: Sequence[TaskData], train: TrainConfig, name: str) -> None:
    """``fit`` trains on the sessions and returns a report dict; ``n_parameters`` is positive."""
    decoder.check_chunk(sessions[0].chunk_s)
    report = decoder.fit(sessions, train, progress=False)
    if not isinstance(report, dict):
        _fail(name, f"fit(sessions, train, progress) must return a dict report, got {type(report).__name__}.")
    n = decoder.n_parameters()
    if not isinstance(n, (int, np.integer)) or n <= 0:
        _fail(name, f"n_parameters() must be a positive int after fit, got {n!r}.")


def check_predict(decoder: Decoder, segments: Sequence[Segment], data: TaskData, name: str) -> None:
    """One finite (n_queries, dim) array per segment, in order."""
    out = decoder.predict(segments)
    if not isinstance(out, list) or len(out) != len(segments):
        _fail(name, f"predict(segments) must return a list with one array per segment ({len(segments)}), "
                    f"got {type(out).__name__} of length {len(out) if hasattr(out, '__len__') else '?'}.")
    for i, (seg, y) in enumerate(zip(segments, out)):
        expected = (seg.query_times.size, data.spec.dim)
        if np.shape(y) != expected:
            _fail(name, f"predict: segment {i} has {expected[0]} query times and the task {expected[1]} outputs "
                        f"({data.spec.kind.value}), so its array must have shape {expected}; got {np.shape(y)}.")
        if not np.all(np.isfinite(y)):
            _fail(name, f"predict: segment {i} has non-finite outputs.")


def check_streaming(decoder: Decoder, segments: Sequence[Segment], atol: float, name: str,
                    chunk_s: float = CHUNK_S) -> None:
    """``reset`` then ``step`` over the segment's chunks gives ``predict``'s outputs."""
    offline = decoder.predict(segments)
    for i, (seg, off) in enumerate(zip(segments, offline)):
        streamed = decoder.stream(seg, chunk_s)
        _close(name, streamed, off, atol,
               f"streaming segment {i} (reset, then step over {chunk_s * 1000:g} ms chunks) differs from predict")


def check_fresh_state(decoder: Decoder, segments: Sequence[Segment], atol: float, name: str,
                      chunk_s: float = CHUNK_S) -> None:
    """Each segment starts from a fresh state: a segment predicted alone equals the same segment
    inside a batch (after a longer one), and streaming it after another segment equals
    streaming it first."""
    longer, shorter = segments[0], segments[1]
    alone = decoder.predict([shorter])[0]
    batched = decoder.predict([longer, shorter])[1]
    _close(name, batched, alone, atol,
           "predict of a segment inside a batch (after a longer segment) differs from predicting it alone; "
           "each segment must start from a fresh state, with padding masked")
    if decoder.streams_like_predict:
        first = decoder.stream(shorter, chunk_s)
        decoder.stream(longer, chunk_s)
        again = decoder.stream(shorter, chunk_s)
        _close(name, again, first, atol,
               "streaming a segment after another one differs from streaming it first; reset(recording) must "
               "clear every carried state")


def check_inputs(decoder: Decoder, segments: Sequence[Segment], atol: float, name: str) -> None:
    """The streams the configured model reads (``read_streams``) are read the declared ways
    (``inputs``) and exist here; changing any other stream leaves the outputs as they were, and
    changing a read stream changes them."""
    declared = set(type(decoder).inputs)
    if not declared or not all(isinstance(k, InputKind) for k in declared):
        _fail(name, f"inputs must be a non-empty set of InputKind, got {type(decoder).inputs!r}.")
    reads = decoder.read_streams()
    undeclared = {stream: how.value for stream, how in reads.items() if how not in declared}
    if undeclared:
        _fail(name, f"read_streams() reads {undeclared}, not among its declared inputs "
                    f"{sorted(k.value for k in declared)}.")
    rec = segments[0].recording
    missing = decoder.missing_inputs(rec)
    if missing:
        _fail(name, f"reads streams {missing}, which the tiny session lacks (it has {list(rec.streams)}).")
    before = decoder.predict(segments)
    unread = _perturbed(rec, keep=set(reads))
    after = decoder.predict([replace(s, recording=unread) for s in segments])
    for b, a in zip(before, after):
        _close(name, a, b, atol, f"outputs changed when streams it does not read (read_streams: {sorted(reads)}) "
                                 "changed; declare every stream the model reads")
    changed = _perturbed(rec, keep=set())
    after = decoder.predict([replace(s, recording=changed) for s in segments])
    if all(np.array_equal(a, b) for a, b in zip(after, before)):
        _fail(name, f"outputs did not change when the streams it declares reading ({sorted(reads)}) changed.")


# ---------------------------------------------------------------------------------- helpers


def _contrasting_segments(segments: Sequence[Segment]) -> list[Segment]:
    """The longest test segment, then the shortest: batching them pads the second."""
    by_length = sorted(segments, key=lambda s: s.duration)
    return [by_length[-1], by_length[0]]


def _perturbed(rec: Recording, keep: set[str]) -> Recording:
    """A copy of ``rec`` whose streams outside ``keep`` hold other data (spikes: a random half,
    units shuffled; feature streams: other counts), plus one extra feature stream."""
    rng = np.random.default_rng(123)
    times, units = rec.spike_times, rec.spike_units
    if SPIKES not in keep:
        kept = rng.random(times.size) < 0.5
        times, units = times[kept], rng.permutation(units[kept])
    features = {}
    for key, stream in rec.features.items():
        values = stream.values if key in keep else rng.poisson(1.0, stream.values.shape).astype(np.float32)
        features[key] = replace(stream, values=values)
    extra = "conformance_extra"
    features[extra] = FeatureStream(extra, 0.05, float(rec.domain.start[0]),
                                    rng.poisson(1.0, (int(rec.domain.duration / 0.05), 3)).astype(np.float32),
                                    np.array(["a", "b", "c"]), "counts")
    return replace(rec, spike_times=times, spike_units=units, features=features, _views={})


def _close(name: str, actual: np.ndarray, expected: np.ndarray, atol: float, what: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        _fail(name, f"{what}: shapes {actual.shape} and {expected.shape}.")
    diff = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    if not diff <= atol + 1e-5 * float(np.max(np.abs(expected), initial=0.0)):
        _fail(name, f"{what}: max abs difference {diff:.3g} (tolerance {atol:g}).")
