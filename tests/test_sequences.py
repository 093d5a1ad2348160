"""Tests of `aufera.data.sequences`: videos back in frame order with gaps, windows, burn-in, the active-AU filter."""

import numpy as np
import pytest

from aufera.data.sequences import (
    active_aus_per_frame,
    check_burn_in,
    gather_sequence,
    sample_windows,
    sequence_dataset,
    unpad,
    video_sequences,
    whole_arrays,
    window_arrays,
)


def metadata():
    """Two videos (F001 T1 views 0 and 4) with rows shuffled; view 0 lacks frames 3 and 4 (no face found)."""
    rows = [("F001", "T1", 0, f) for f in (1, 2, 5, 6)] + [("F001", "T1", 4, f) for f in range(1, 7)]
    order = np.random.default_rng(0).permutation(len(rows))
    rows = [rows[i] for i in order]
    subject, task, view, frame = (np.array(column) for column in zip(*rows, strict=True))
    return subject, task, view.astype(np.int64), frame.astype(np.int64)


def test_videos_are_in_frame_order_with_gaps_marked():
    subject, task, view, frame = metadata()
    videos = video_sequences(subject, task, view, frame)
    assert [(v.subject, v.task, v.view) for v in videos] == [("F001", "T1", 0), ("F001", "T1", 4)]
    first, second = videos
    np.testing.assert_array_equal(first.frames, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(first.mask, [True, True, False, False, True, True])
    # Each present place holds the row of that frame; gaps hold -1.
    for video in videos:
        for number, row in zip(video.frames, video.rows, strict=True):
            if row >= 0:
                assert frame[row] == number and view[row] == video.view
    assert (first.rows == -1).sum() == 2 and second.mask.all() and len(second) == 6


def test_a_repeated_frame_is_refused():
    with pytest.raises(ValueError, match=r"video F001 T1 view 1: frame 2 appears more than once"):
        video_sequences(["F001"] * 3, ["T1"] * 3, [0, 0, 0], [1, 2, 2])
    with pytest.raises(ValueError, match="one entry per row"):
        video_sequences(["F001"], ["T1"], [0, 0], [1])


def test_gather_puts_zeros_at_gaps_and_windows_zero_the_burn_in():
    subject, task, view, frame = metadata()
    videos = video_sequences(subject, task, view, frame)
    values = np.arange(len(frame), dtype=np.float32)[:, None] + 1.0  # row r holds r + 1
    labels = np.ones((len(frame), 3), np.int8)
    gathered = gather_sequence(values, videos[0])
    expected = [values[r, 0] if r >= 0 else 0.0 for r in videos[0].rows]
    np.testing.assert_array_equal(gathered[:, 0], expected)
    x, y, mask = window_arrays(values, labels, videos, [(0, 1), (1, 2)], length=4, burn_in=2)
    assert x.shape == (2, 4, 1) and y.shape == (2, 4, 3)
    np.testing.assert_array_equal(mask[0], [True, False, False, True])
    # Burn-in frames keep their values and lose their labels; gaps have label 0 too.
    np.testing.assert_array_equal(x[0, :, 0], gathered[1:5, 0])
    np.testing.assert_array_equal(y[0, :, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(y[1, :, 0], [0, 0, 1, 1])


def test_whole_arrays_and_unpad_round_trip():
    subject, task, view, frame = metadata()
    videos = video_sequences(subject, task, view, frame)
    values = np.random.default_rng(1).normal(size=(len(frame), 2)).astype(np.float32)
    x, y, mask = whole_arrays(values, None, videos)
    assert y is None and x.shape == (2, 6, 2) and mask.sum() == len(frame)
    np.testing.assert_array_equal(unpad(x, videos, len(frame)), values)


def test_windows_are_seeded_and_the_active_au_filter_counts_after_the_burn_in():
    subject = np.array(["F001"] * 20)
    task, view, frame = np.array(["T1"] * 20), np.zeros(20, np.int64), np.arange(20)
    videos = video_sequences(subject, task, view, frame)
    labels = -np.ones((20, 4), np.int8)
    labels[10:, :3] = 1  # frames 10-19: 3 AUs present; frames 0-9: none
    assert active_aus_per_frame(labels, videos[0], 10, 10) == 3.0
    assert active_aus_per_frame(labels, videos[0], 5, 10) == 1.5
    first, counts = sample_windows(videos, labels, length=10, per_video=50, seed=3)
    again, _ = sample_windows(videos, labels, length=10, per_video=50, seed=3)
    assert first == again and counts["kept"] == counts["drawn"] == 50
    kept, counts = sample_windows(videos, labels, length=10, per_video=50, seed=3, min_active_aus=1.5, burn_in=2)
    # A window from start s: frames s+2..s+9 after the burn-in; it keeps >= 1.5 active AUs per frame
    # when at least half of those 8 frames are >= 10, i.e. s + 6 >= 10.
    expected = [(0, s) for _, s in first if s >= 4]
    assert kept == expected and counts["kept"] == len(expected) < 50
    assert counts["frames_kept"] == 10 * len(expected)


def test_a_short_video_gives_one_whole_window_and_the_burn_in_is_checked():
    videos = video_sequences(["F001"] * 5, ["T1"] * 5, [0] * 5, np.arange(5))
    windows, _ = sample_windows(videos, np.ones((5, 2), np.int8), length=8, per_video=3, seed=0)
    assert windows == [(0, 0)]
    with pytest.raises(ValueError, match=r"sequence.burn_in=5: sequences of 5 frames \(video F001 T1 view 1\)"):
        check_burn_in(videos, length=8, burn_in=5)
    check_burn_in(videos, length=8, burn_in=4)


def test_sequence_dataset_batches_in_order_or_shuffled():
    x = np.arange(5 * 3, dtype=np.float32).reshape(5, 3, 1)
    y = np.ones((5, 3, 2), np.int8)
    batches = list(sequence_dataset(x, y, batch_size=2).as_numpy_iterator())
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    shuffled = np.concatenate([b[0] for b in sequence_dataset(x, y, 2, shuffle_seed=1).as_numpy_iterator()])
    assert sorted(shuffled[:, 0, 0].tolist()) == sorted(x[:, 0, 0].tolist())
