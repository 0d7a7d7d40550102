"""Statistics of simulated handwriting sessions beside the published ones that can be cited
(``python -m bench simstats --task handwriting``).

Per session, from the file as a model sees it (the threshold-crossing stream, trials, go cues)
and the simulator's pen velocity: crossing rates per electrode, silent electrodes, the
across-trial Fano factor of 100 ms counts during writing (trials of one character, averaged over
characters, windows and electrodes above 1 Hz), the rate change from the delay to the writing
period, trial length, reaction time and writing duration (pen speed above 10 % of its trial
peak). Published values: Willett et al. 2021 (Nature 593:249) and the reference notes in
docs/handwriting.md; a row without a citable figure says so rather than inventing one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.letters import CHARACTERS, STREAM, go_cues
from bench.data.recording import Recording

FANO_BINS = 10  # 100 ms windows of 10 ms bins
MIN_RATE_HZ = 1.0
PUBLISHED = {
    "electrodes": ("192", "two 96-electrode arrays, hand knob of precentral gyrus (Willett et al. 2021)"),
    "bin (ms)": ("10", "threshold crossings at -3.5 x RMS counted in 10 ms bins (Willett et al. 2021)"),
    "characters": ("31", "a-z and > , ' ~ ? (Willett et al. 2021)"),
    "writing duration (s)": ("~1; 0.67 in sentences", "instructed delay, go cue, about 1 s of attempted writing; "
                             "sentences at 90 characters per minute = 0.67 s per character (Willett et al. 2021)"),
    "rate median (Hz)": ("n/a", "no per-electrode rate distribution is published in the sources at hand"),
    "Fano 100 ms": ("n/a", "no figure in the sources at hand"),
}


def session_stats(rec: Recording) -> dict:
    """The statistics of one handwriting recording (simulated or imported)."""
    stream = rec.features[STREAM]
    bin_s, v = stream.bin_s, stream.values
    go = go_cues(rec)
    tr = rec.trials
    starts = np.round((tr.start - stream.t0) / bin_s).astype(int)
    go_bins = np.round((go - stream.t0) / bin_s).astype(int)
    ends = np.round((tr.end - stream.t0) / bin_s).astype(int)
    rates = v.mean(axis=0) / bin_s
    delay = np.concatenate([v[s:g] for s, g in zip(starts, go_bins)]).mean(axis=0) / bin_s
    move = np.concatenate([v[g:e] for g, e in zip(go_bins, ends)]).mean(axis=0) / bin_s
    active = rates > MIN_RATE_HZ
    n_win = int(np.min(ends - go_bins)) // FANO_BINS
    fanos = []
    for c in np.unique(tr.target_id):
        idx = np.flatnonzero(tr.target_id == c)
        if idx.size < 3:
            continue
        counts = np.stack([v[go_bins[i] : go_bins[i] + n_win * FANO_BINS].reshape(n_win, FANO_BINS, -1).sum(1)
                           for i in idx])  # (trials, windows, electrodes)
        mean, var = counts.mean(0), counts.var(0, ddof=1)
        ok = mean > 0
        fanos.append(np.nanmean(np.where(ok, var / np.where(ok, mean, 1), np.nan)[:, active]))
    out = {
        "session": rec.recording_id,
        "electrodes": stream.n_channels,
        "bin (ms)": round(bin_s * 1000, 3),
        "characters": int(np.unique(tr.target_id).size),
        "trials": len(tr),
        "trial length (s)": float(np.mean(tr.end - tr.start)),
        "go cue to trial end (s)": float(np.mean(tr.end - go)),
        "rate median (Hz)": float(np.median(rates)),
        "rate p5-p95 (Hz)": f"{np.percentile(rates, 5):.1f}-{np.percentile(rates, 95):.1f}",
        "silent electrodes (<0.5 Hz)": int(np.sum(rates < 0.5)),
        "writing / delay rate": float(np.median(move[active] / np.maximum(delay[active], 1e-9))),
        "Fano 100 ms": float(np.nanmean(fanos)) if fanos else float("nan"),
    }
    if rec.behaviour is not None:
        out.update(_writing_times(rec, starts, go_bins, ends))
    return out


def _writing_times(rec: Recording, starts, go_bins, ends) -> dict:
    """Reaction time and writing duration per trial from the pen speed (simulated sessions only)."""
    speed = np.linalg.norm(rec.behaviour.vel, axis=1)
    reaction, duration, per_char = [], [], {}
    for s, g, e, c in zip(starts, go_bins, ends, rec.trials.target_id):
        moving = np.flatnonzero(speed[g:e] > 0.1 * speed[g:e].max())
        if moving.size:
            reaction.append(moving[0] * 0.01)
            duration.append((moving[-1] - moving[0] + 1) * 0.01)
            per_char.setdefault(int(c), []).append(duration[-1])
    means = {CHARACTERS[c]: np.mean(d) for c, d in per_char.items()}
    short, long = min(means, key=means.get), max(means, key=means.get)
    return {
        "reaction time (s)": float(np.mean(reaction)),
        "writing duration (s)": float(np.mean(duration)),
        "shortest / longest character (s)": f"{short!r} {means[short]:.2f} / {long!r} {means[long]:.2f}",
    }


def stats_table(recordings: list[Recording]) -> pd.DataFrame:
    """One column per session, then the published value and its source."""
    df = pd.DataFrame([session_stats(r) for r in recordings]).set_index("session").T
    df["published"] = [PUBLISHED.get(k, ("", ""))[0] for k in df.index]
    df["source of the published value"] = [PUBLISHED.get(k, ("", ""))[1] for k in df.index]
    return df


def format_report(df: pd.DataFrame) -> str:
    def cell(x):
        return f"{x:.3g}" if isinstance(x, float) else str(x)
    return df.map(cell).to_markdown()


def handwriting_report(scale: str = "default", cache_dir=None) -> str:
    """The report of the simulator's sessions at ``scale`` (generated or read from the cache)."""
    from bench.data.simulators.handwriting.source import HandwritingSimulatorParams, HandwritingSimulatorSource
    from bench.data.storage import load_recording

    source = HandwritingSimulatorSource(HandwritingSimulatorParams(scale=scale), cache_dir=cache_dir)
    recordings = [load_recording(p) for p in source.materialize()]
    return f"Handwriting simulator, scale '{scale}' ({source.folder}):\n\n" + format_report(stats_table(recordings))
