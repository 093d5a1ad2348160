"""Frame sequences per video (session x view) from a prepared dataset, for models with time in them.

A prepared dataset stores frames, not videos: each row has its subject,
task (session), view and frame number. `video_sequences` puts the rows of
each video back in frame order. A frame that preparation dropped (no face
found) leaves a gap: its place in the sequence is kept, marked False in the
video's mask, and holds no row (-1), so models and metrics can skip it
instead of closing it up.

`sequence_dataset` is the tf.data route over per-frame values (images,
features or scores) gathered along those sequences: random windows for
training (with a burn-in of frames that carry no loss), whole videos for
evaluation, padded to the longest video of a batch with masked frames.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class VideoSequence:
    """One video's frames in order.

    Args:
        subject: str.
        task: str.
        view: int. 0-8.
        frames: int array (T,). Frame numbers first..last, gaps included.
        rows: int array (T,). The dataset row of each frame, -1 for a gap.
    """

    subject: str
    task: str
    view: int
    frames: np.ndarray
    rows: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """bool (T,): True where the frame is in the dataset."""
        return self.rows >= 0

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def video_sequences(subject, task, view, frame) -> list[VideoSequence]:
    """The videos of a split, each with its rows in frame order and its gaps, sorted by subject, task, view.

    Args:
        subject, task: str arrays (N,). view: int array (N,). frame: int array (N,).
            The per-row metadata of a split (`SplitArrays`).

    Returns:
        A list of `VideoSequence`, one per (subject, task, view). A video
        spans its first to its last frame in the dataset; frame numbers in
        between that have no row are gaps.

    Raises:
        ValueError: when the arrays differ in length, or one video has the
            same frame number twice (naming the video and the frame).
    """
    subject, task = np.asarray(subject, str), np.asarray(task, str)
    view, frame = np.asarray(view, np.int64), np.asarray(frame, np.int64)
    n = len(subject)
    if not (len(task) == len(view) == len(frame) == n):
        raise ValueError(
            f"subject, task, view and frame must have one entry per row. Received lengths {n}, {len(task)}, "
            f"{len(view)}, {len(frame)}"
        )
    order = np.lexsort((frame, view, task, subject))
    videos = []
    start = 0
    while start < n:
        first = order[start]
        key = (subject[first], task[first], view[first])
        stop = start
        while stop < n and (subject[order[stop]], task[order[stop]], view[order[stop]]) == key:
            stop += 1
        rows = order[start:stop]
        numbers = frame[rows]
        repeated = numbers[1:][numbers[1:] == numbers[:-1]]
        if repeated.size:
            raise ValueError(
                f"video {key[0]} {key[1]} view {int(key[2]) + 1}: frame {int(repeated[0])} appears more than once"
            )
        span = np.arange(numbers[0], numbers[-1] + 1, dtype=np.int64)
        placed = np.full(len(span), -1, np.int64)
        placed[numbers - numbers[0]] = rows
        videos.append(VideoSequence(str(key[0]), str(key[1]), int(key[2]), span, placed))
        start = stop
    return videos


def gather_sequence(values: np.ndarray, video: VideoSequence, start: int = 0, length: int | None = None) -> np.ndarray:
    """`values` of a video's frames from `start` for `length` frames, zeros at gaps: (length, *values.shape[1:])."""
    rows = video.rows[start : None if length is None else start + length]
    out = np.zeros((len(rows), *values.shape[1:]), values.dtype)
    present = rows >= 0
    out[present] = values[rows[present]]
    return out


def active_aus_per_frame(labels: np.ndarray, video: VideoSequence, start: int = 0, length: int | None = None) -> float:
    """The mean number of present AUs per frame of a window (frames in the dataset only; 0 if none)."""
    window = gather_sequence(labels, video, start, length)
    present = video.mask[start : None if length is None else start + length]
    if not present.any():
        return 0.0
    return float((window[present] > 0).sum(axis=1).mean())


def sample_windows(
    videos: list[VideoSequence],
    labels: np.ndarray,
    length: int,
    per_video: int,
    seed: int,
    min_active_aus: float | None = None,
    burn_in: int = 0,
) -> tuple[list[tuple[int, int]], dict]:
    """Random training windows: `per_video` windows of `length` frames from each video (start uniform).

    A video shorter than `length` gives one window, the whole video. With
    `min_active_aus`, windows whose mean number of present AUs per frame
    (after the burn-in) is below it are left out (Chu et al. Sec. 4.2: "we
    omitted training sequences with less than 1.5 active AUs per frame").

    Args:
        videos: list of VideoSequence.
        labels: int array (N, A) of +1 / -1 / 0, the dataset rows' labels.
        length: int. Frames per window.
        per_video: int. Windows drawn per video.
        seed: int.
        min_active_aus: float or None. Defaults to None (keep all).
        burn_in: int. Frames at the start of a window that the filter does
            not count (they carry no loss). Defaults to 0.

    Returns:
        (windows, counts): windows as (video index, start) pairs, and a dict
        `drawn`, `kept`, `frames_drawn`, `frames_kept`.
    """
    rng = np.random.default_rng(int(seed))
    windows, drawn, frames_drawn, frames_kept = [], 0, 0, 0
    for i, video in enumerate(videos):
        span = max(len(video) - int(length), 0)
        for _ in range(int(per_video) if span else 1):
            start = int(rng.integers(0, span + 1))
            size = min(int(length), len(video))
            drawn += 1
            frames_drawn += size
            if min_active_aus is not None:
                active = active_aus_per_frame(labels, video, start + int(burn_in), size - int(burn_in))
                if active < float(min_active_aus):
                    continue
            windows.append((i, start))
            frames_kept += size
    return windows, {"drawn": drawn, "kept": len(windows), "frames_drawn": frames_drawn, "frames_kept": frames_kept}


def check_burn_in(videos: list[VideoSequence], length: int, burn_in: int) -> None:
    """Raises ValueError (one line naming the values) when no window would have a frame after the burn-in."""
    shortest = min((len(v) for v in videos), default=0)
    usable = min(int(length), shortest)
    if usable <= int(burn_in):
        where = min(videos, key=len) if videos else None
        name = f" (video {where.subject} {where.task} view {where.view + 1})" if where else ""
        raise ValueError(
            f"sequence.burn_in={burn_in}: sequences of {usable} frames{name} are not longer than the burn-in, so "
            "they would carry no loss; lower the burn-in or use longer sequences"
        )


def window_arrays(
    values: np.ndarray,
    labels: np.ndarray,
    videos: list[VideoSequence],
    windows: list[tuple[int, int]],
    length: int,
    burn_in: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows stacked: values (W, length, ...), labels (W, length, A) and mask (W, length).

    Frames past a short video's end and gaps are zeros with labels 0 and
    mask False; the first `burn_in` frames of each window keep their values
    but get labels 0 (no loss: they carry too little temporal context).
    """
    x = np.zeros((len(windows), int(length), *values.shape[1:]), values.dtype)
    y = np.zeros((len(windows), int(length), labels.shape[1]), np.int8)
    mask = np.zeros((len(windows), int(length)), bool)
    for w, (i, start) in enumerate(windows):
        video = videos[i]
        size = min(int(length), len(video) - start)
        x[w, :size] = gather_sequence(values, video, start, size)
        y[w, :size] = gather_sequence(labels, video, start, size)
        mask[w, :size] = video.mask[start : start + size]
    y[:, : int(burn_in)] = 0
    return x, y, mask


def whole_arrays(values: np.ndarray, labels: np.ndarray | None, videos: list[VideoSequence]):
    """Whole videos, padded to the longest: values (V, T, ...), labels (V, T, A) or None, and mask (V, T)."""
    longest = max((len(v) for v in videos), default=0)
    x = np.zeros((len(videos), longest, *values.shape[1:]), values.dtype)
    y = None if labels is None else np.zeros((len(videos), longest, labels.shape[1]), np.int8)
    mask = np.zeros((len(videos), longest), bool)
    for i, video in enumerate(videos):
        x[i, : len(video)] = gather_sequence(values, video)
        if y is not None:
            y[i, : len(video)] = gather_sequence(labels, video)
        mask[i, : len(video)] = video.mask
    return x, y, mask


def unpad(per_video: np.ndarray, videos: list[VideoSequence], num_rows: int) -> np.ndarray:
    """Per-frame outputs of `whole_arrays` order (V, T, ...) back to dataset rows (num_rows, ...); NaN where none."""
    out = np.full((int(num_rows), *per_video.shape[2:]), np.nan, np.float32)
    for i, video in enumerate(videos):
        present = video.mask
        out[video.rows[present]] = per_video[i, : len(video)][present]
    return out


def sequence_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """A tf.data pipeline of (x, y) sequence batches from stacked arrays (`window_arrays`, `whole_arrays`).

    Args:
        x: array (S, T, ...). Per-frame inputs.
        y: array (S, T, A). Per-frame labels (+1 / -1 / 0).
        batch_size: int. Sequences per batch.
        shuffle_seed: int or None. Shuffle the sequences with this seed; None keeps their order.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=int(shuffle_seed), reshuffle_each_iteration=False)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


__all__ = [
    "VideoSequence",
    "active_aus_per_frame",
    "check_burn_in",
    "gather_sequence",
    "sample_windows",
    "sequence_dataset",
    "unpad",
    "video_sequences",
    "whole_arrays",
    "window_arrays",
]
