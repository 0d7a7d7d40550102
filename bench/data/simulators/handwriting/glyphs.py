"""Pen-tip trajectories of the 31 characters, from a real single-stroke font (Hershey 'futural',
via the ``hershey-fonts`` package), written with per-trial size, slant, shape jitter and time warp.

A glyph is a list of pen-down strokes; the pen travels in a straight line between strokes (pen
up), as T5's attempted writing did. Font units have y downward; trajectories here have y upward,
in centimetres of an imagined letter about 1.5 cm tall.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.ndimage import gaussian_filter1d

from bench.errors import DataError

FONT = "futural"
CM_PER_UNIT = 0.08  # a 'futural' x-height of ~14 units -> ~1.1 cm
MIN_SPEED_FRACTION = 0.15  # the pen slows, but never stops, at stroke ends


@cache
def glyph_strokes(char: str) -> tuple[np.ndarray, ...]:
    """Pen-down strokes of ``char`` as (n, 2) arrays in cm, y up, centred on the glyph's box."""
    try:
        from HersheyFonts import HersheyFonts
    except ImportError:  # pragma: no cover - a dependency of the package
        raise DataError("The handwriting simulator needs the 'hershey-fonts' package: pip install hershey-fonts") from None
    font = HersheyFonts()
    font.load_default_font(FONT)
    strokes = [np.asarray(s, np.float64) for s in font.strokes_for_text(char) if len(s) >= 2]
    if not strokes:
        raise DataError(f"Font '{FONT}' has no strokes for character {char!r}.")
    pts = np.concatenate(strokes)
    centre = (pts.min(0) + pts.max(0)) / 2
    return tuple((s - centre) * np.array([1.0, -1.0]) * CM_PER_UNIT for s in strokes)


def _path(strokes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """All strokes joined by pen-up travel: points and whether each segment is drawn."""
    pts, drawn = [strokes[0][0]], []
    for k, s in enumerate(strokes):
        if k:
            pts.append(s[0])
            drawn.append(False)
        for p in s[1:]:
            pts.append(p)
            drawn.append(True)
    return np.asarray(pts), np.asarray(drawn)


def glyph_length(char: str) -> float:
    """Path length in cm, pen-up travel included (sets how long the character takes to write)."""
    pts, _ = _path(glyph_strokes(char))
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def write_character(
    char: str, n_bins: int, bin_s: float, rng: np.random.Generator, size_sd: float = 0.1,
    slant_sd: float = 0.1, jitter_cm: float = 0.04,
) -> np.ndarray:
    """Pen-tip velocity (n_bins, 2) in cm/s of one attempt at ``char`` lasting n_bins bins.

    Size (log-normal), slant (shear), a small rotation and smooth shape jitter of the font's
    points change per trial; the pen moves along the path with a speed that dips at the corners and
    at stroke ends and varies slowly along the way (time warp)."""
    strokes = glyph_strokes(char)
    pts, drawn = _path(strokes)
    pts = pts + gaussian_filter1d(rng.normal(0, jitter_cm, pts.shape), 1.0, axis=0, mode="nearest") * 2.0
    scale = np.exp(rng.normal(0, size_sd))
    shear, angle = rng.normal(0, slant_sd), rng.normal(0, 0.05)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (pts @ np.array([[1.0, 0.0], [shear, 1.0]])) @ rot.T * scale
    seg = np.diff(pts, axis=0)
    seg_len = np.linalg.norm(seg, axis=1) + 1e-9
    # slower where the path turns sharply or the pen lifts, plus a slow random warp of the speed
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    turn = np.abs(np.angle(np.exp(1j * np.diff(heading, prepend=heading[0]))))
    ease = np.clip(1.0 - turn / np.pi, MIN_SPEED_FRACTION, 1.0) * np.where(drawn, 1.0, 1.3)
    warp = np.exp(gaussian_filter1d(rng.normal(0, 0.5, seg_len.size), 2.0, mode="nearest"))
    seg_time = seg_len / (ease * warp)
    t_knots = np.concatenate([[0.0], np.cumsum(seg_time)])
    t = np.linspace(0.0, t_knots[-1], n_bins * 4)
    xy = np.stack([np.interp(t, t_knots, pts[:, d]) for d in range(2)], axis=1)
    xy = gaussian_filter1d(xy, 4.0 * 0.03 / bin_s, axis=0, mode="nearest")  # ~30 ms of smoothing
    pos = xy[::4]
    return np.gradient(pos, bin_s, axis=0)
