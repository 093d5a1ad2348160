"""AU episodes, labels and head motion over time.

AU intensities come from smooth correlated Gaussian processes, one per AU: a
latent z_k(t) is white noise filtered by a Gaussian kernel over time (so it
rises, holds and falls: onset, apex, offset), mixed across AUs so that the
latents have the correlation matrix `AU_CORRELATION`. An AU's FACS intensity
level is ``1 + (z - threshold) / LEVEL_WIDTH`` clipped to 0-5 (1 = A ...
5 = E), and it is present where the level reaches `present_from`. Thresholds
are set per split on the empirical quantiles of the latents, so the share of
frames in which each AU is present equals its base rate.

Episodes (maximal runs of present frames, `episode_durations`) last in
proportion to `smoothness`, sigma frames (the standard deviation of the
kernel): the latents' autocorrelation is Gaussian with standard deviation
sigma * sqrt(2), so by Rice's formula an AU present in a share p of the
frames has episodes of mean duration 2 pi sqrt(2) p exp(u^2 / 2) sigma
frames, u the standard normal quantile of 1 - p: about 2.4 sigma at
p = 0.17, 5 sigma at p = 0.55 (measured within 2% on 400,000 frames).
Pooled over the 10 AUs at the FERA 2017 base rates, the median episode
lasts about 2.9 sigma (quartiles 1.75 and 4.9 sigma) in long sessions, and
2.5-3 sigma (quartiles about 1.5 and 4-4.5 sigma) in sessions of 300
frames, whose ends cut the longest episodes short: 8-9 frames at the
default smoothness 3, 40 frames (1.6 s at 25 fps) at smoothness 16.

A small share of labels is written as unknown (9), in short runs as in
FERA 2017.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from aufera.au import ABSENT, AU_NUMBERS, NUM_AUS, PRESENT, UNKNOWN

LEVEL_WIDTH = 0.45

# Correlations of the AU latents (AU numbers -> correlation); the papers rely on
# AU6 with AU12, AU12 against AU15, and AU17 with AU15 and AU23.
_PAIRS = {
    (6, 12): 0.7,
    (12, 15): -0.4,
    (15, 17): 0.45,
    (17, 23): 0.45,
    (15, 23): 0.2,
    (6, 7): 0.35,
    (10, 12): 0.35,
    (6, 10): 0.3,
    (4, 7): 0.25,
    (1, 4): 0.15,
    (12, 14): 0.2,
    (12, 23): -0.15,
    (12, 17): -0.15,
}


def au_correlation(pairs: dict | None = None) -> np.ndarray:
    """The 10x10 correlation matrix of the AU latents, in AU order."""
    pairs = _PAIRS if pairs is None else pairs
    corr = np.eye(NUM_AUS)
    for (a, b), r in pairs.items():
        i, j = AU_NUMBERS.index(a), AU_NUMBERS.index(b)
        corr[i, j] = corr[j, i] = r
    if np.linalg.eigvalsh(corr).min() <= 1e-6:
        raise ValueError(f"AU correlations must form a positive definite matrix. Received: {pairs}")
    return corr


AU_CORRELATION = au_correlation()


def smooth_noise(rng: np.random.Generator, n: int, k: int, sigma: float) -> np.ndarray:
    """(n, k) Gaussian noise smoothed over time, unit variance per column."""
    radius = int(np.ceil(3 * sigma))
    pad = rng.standard_normal((n + 2 * radius, k))
    if sigma <= 0:
        return pad[radius : radius + n]
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    out = np.stack([np.convolve(pad[:, j], kernel, mode="valid") for j in range(k)], axis=1)
    return out[:n]


def au_latents(rng: np.random.Generator, n_frames: int, smoothness: float, corr: np.ndarray = AU_CORRELATION):
    """(n_frames, 10) correlated, smooth, unit-variance AU latents."""
    chol = np.linalg.cholesky(corr)
    return smooth_noise(rng, n_frames, NUM_AUS, smoothness) @ chol.T


def thresholds(latents: np.ndarray, base_rates, present_from: float) -> np.ndarray:
    """Per-AU thresholds that make each AU present in exactly its base rate of frames."""
    rates = np.asarray(base_rates, dtype=np.float64)
    onset = np.array([np.quantile(latents[:, k], 1.0 - rates[k], method="higher") for k in range(NUM_AUS)])
    # Present where level >= present_from, i.e. z >= threshold + (present_from - 1) * LEVEL_WIDTH.
    return onset - (present_from - 1.0) * LEVEL_WIDTH


def intensity_levels(latents: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Continuous FACS intensity levels (0-5) from latents and thresholds."""
    return np.clip(1.0 + (latents - thr) / LEVEL_WIDTH, 0.0, 5.0).astype(np.float32)


def occurrence(levels: np.ndarray, present_from: float) -> np.ndarray:
    """+1 / -1 occurrence labels from intensity levels."""
    return np.where(levels >= present_from, PRESENT, ABSENT).astype(np.int8)


def episode_durations(occurrence: np.ndarray, complete: bool = False) -> list[np.ndarray]:
    """Episode durations of each AU in one session: the lengths of its maximal runs of present frames.

    Args:
        occurrence: (T, 10) +1 / -1 labels of one session (e.g. from `occurrence`).
        complete: bool. Leave out the runs cut by the session's first or last
            frame, whose true duration is unknown. Defaults to False.

    Returns:
        10 int64 arrays (one per AU, in AU order) of durations in frames, in time order.
    """
    present = np.asarray(occurrence) == PRESENT
    if present.ndim != 2 or present.shape[1] != NUM_AUS:
        raise ValueError(f"occurrence must be (T, {NUM_AUS}). Received: shape={np.shape(occurrence)}")
    out = []
    for k in range(NUM_AUS):
        edges = np.diff(np.concatenate([[0], present[:, k].astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if complete:
            keep = (starts > 0) & (ends < len(present))
            starts, ends = starts[keep], ends[keep]
        out.append((ends - starts).astype(np.int64))
    return out


def unknown_mask(rng: np.random.Generator, n_frames: int, rate: float, run_frames: float = 2.0) -> np.ndarray:
    """(n_frames, 10) bool mask of labels written as unknown, in short runs."""
    if rate <= 0:
        return np.zeros((n_frames, NUM_AUS), bool)
    z = smooth_noise(rng, n_frames, NUM_AUS, run_frames)
    return z > NormalDist().inv_cdf(1.0 - rate)


def apply_unknown(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[mask] = UNKNOWN
    return out


def head_motion(rng: np.random.Generator, n_frames: int, amplitude: dict, smoothness: float) -> dict[str, np.ndarray]:
    """Small smooth head motion shared by the 9 views of a session.

    Args:
        amplitude: {"yaw", "pitch", "roll" (degrees), "shift" (share of the
            frame), "scale" (relative), "light" (degrees of light azimuth)}:
            standard deviations of each track.

    Returns:
        {name: (n_frames,) float array}.
    """
    names = ("yaw", "pitch", "roll", "shift_x", "shift_y", "scale", "light")
    z = smooth_noise(rng, n_frames, len(names), smoothness)
    tracks = {}
    for i, name in enumerate(names):
        key = "shift" if name.startswith("shift") else name
        tracks[name] = z[:, i] * float(amplitude[key])
    tracks["scale"] = 1.0 + tracks["scale"]
    return tracks
