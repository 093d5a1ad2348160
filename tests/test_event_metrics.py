"""Tests of the event-based F1 of aufera.metrics (Ding et al. 2013) on hand-worked sequences and a pure-Python reference."""

from fractions import Fraction

import numpy as np
import pytest

from aufera.metrics import (
    event_f1,
    event_f1_auc,
    event_f1_auc_per_au,
    event_f1_curve,
    event_f1_per_au,
)

# The example of the brief: true events {0-2}, {5-6}; predicted events {0}, {4-6}.
# Scores of the true events: {0-2} has 1 of 3 frames predicted -> 1/3; {5-6} 2 of 2 -> 1.
# Scores of the predicted events: {0} 1 of 1 frame present -> 1; {4-6} 2 of 3 -> 2/3.
LABELS = [1, 1, 1, -1, -1, 1, 1, -1]
PREDICTIONS = [1, 0, 0, 0, 1, 1, 1, 0]


def reference_curve(sequences, thresholds):
    """F1-event at each threshold, pooled over (labels, predictions) sequences, in exact fractions.

    Written independently of aufera: events are found frame by frame with an explicit run start, the
    overlap scores are `Fraction`s, and the thresholds are `Fraction`s, so no rounding is involved.
    """
    true_scores, pred_scores = [], []
    for labels, predictions in sequences:
        labels = [int(v) for v in labels]
        true_present = [v == 1 for v in labels]
        pred_present = [int(p) == 1 and v != 0 for p, v in zip(predictions, labels, strict=True)]
        for present, other, scores in (
            (true_present, pred_present, true_scores),
            (pred_present, true_present, pred_scores),
        ):
            start = None
            for i in range(len(present) + 1):
                on = i < len(present) and present[i]
                if on and start is None:
                    start = i
                elif not on and start is not None:
                    hits = sum(1 for j in range(start, i) if other[j])
                    scores.append(Fraction(hits, i - start))
                    start = None
    out = []
    for t in thresholds:
        if not true_scores and not pred_scores:
            out.append(Fraction(1))
        elif not true_scores or not pred_scores:
            out.append(Fraction(0))
        else:
            er = Fraction(sum(1 for s in true_scores if s >= t), len(true_scores))
            ep = Fraction(sum(1 for s in pred_scores if s >= t), len(pred_scores))
            out.append(Fraction(0) if er + ep == 0 else 2 * er * ep / (er + ep))
    return out


def reference_area(sequences):
    """Trapezoid area over the thresholds 0, 1/100, ..., 1 (the default grid), exactly."""
    thresholds = [Fraction(k, 100) for k in range(101)]
    f1 = reference_curve(sequences, thresholds)
    return float(sum((f1[k] + f1[k + 1]) / 2 * Fraction(1, 100) for k in range(100)))


def random_sequence(rng, length):
    """Labels in runs (so that events are longer than a frame), some unknown frames, noisy predictions."""
    labels = np.repeat(rng.choice([1, -1, 0], size=length, p=[0.45, 0.45, 0.1]), rng.integers(1, 6, size=length))
    labels = labels[:length]
    flip = rng.random(labels.size) < 0.25
    predictions = np.where(flip, 1 - (labels == 1), labels == 1).astype(int)
    return labels, predictions


# ----------------------------------------------------------------------------- one sequence


def test_brief_example_at_half_overlap():
    # At t = 0.5: true scores 1/3, 1 -> ER = 1/2; predicted scores 1, 2/3 -> EP = 2/2; F1 = 2 (1/2)(1) / (3/2) = 2/3.
    assert event_f1(LABELS, PREDICTIONS) == pytest.approx(2 / 3)
    assert event_f1(LABELS, PREDICTIONS, overlap=0.5) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "overlap, expected",
    [
        (0.0, 1.0),  # every score >= 0: ER = EP = 1
        (0.3, 1.0),  # 1/3 >= 0.3 and 2/3 >= 0.3: ER = EP = 1
        (0.4, 2 / 3),  # 1/3 < 0.4: ER = 1/2; EP = 1 -> 2/3
        (2 / 3, 2 / 3),  # 2/3 >= 2/3 counts: ER = 1/2, EP = 1 -> 2/3
        (0.7, 0.5),  # ER = 1/2; 2/3 < 0.7: EP = 1/2 -> 1/2
        (1.0, 0.5),  # only fully covered events: ER = 1/2, EP = 1/2 -> 1/2
    ],
)
def test_brief_example_at_other_overlaps(overlap, expected):
    assert event_f1(LABELS, PREDICTIONS, overlap=overlap) == pytest.approx(expected)


def test_bool_and_float_predictions_are_accepted():
    assert event_f1(LABELS, np.array(PREDICTIONS, dtype=bool)) == pytest.approx(2 / 3)
    assert event_f1(np.array(LABELS, dtype=np.int8), np.array(PREDICTIONS, dtype=float)) == pytest.approx(2 / 3)


def test_unknown_frames_break_true_and_predicted_events():
    # Labels 1 1 0 1 1 with every frame predicted: the unknown frame 2 splits the true run into {0-1}, {3-4},
    # and the prediction at frame 2 is dropped, so the predicted events are {0-1}, {3-4} too: all scores 1.
    assert event_f1([1, 1, 0, 1, 1], [1, 1, 1, 1, 1], overlap=0.9) == 1.0
    # The same with an absent frame 2: true events {0-1}, {3-4} (scores 1, 1); one predicted event {0-4} with
    # 4 of 5 frames present -> 0.8. At t = 0.9: ER = 1, EP = 0 -> F1 = 2 * 1 * 0 / 1 = 0.
    assert event_f1([1, 1, -1, 1, 1], [1, 1, 1, 1, 1], overlap=0.9) == 0.0
    # At t = 0.5 it is matched: ER = 1, EP = 1.
    assert event_f1([1, 1, -1, 1, 1], [1, 1, 1, 1, 1], overlap=0.5) == 1.0


def test_unknown_frame_inside_a_true_run():
    # Labels 1 0 1 -1, predictions 0 1 1 0: true events {0} (score 0/1), {2} (score 1/1). The prediction at
    # the unknown frame 1 is dropped, so the one predicted event is {2} (score 1). At t = 0.5: ER = 1/2,
    # EP = 1 -> 2/3. Were frame 1 absent, the predicted event {1-2} would score 1/2, still matched.
    assert event_f1([1, 0, 1, -1], [0, 1, 1, 0]) == pytest.approx(2 / 3)
    # Were the prediction at frame 1 kept, {1-2} would score 1/2 and fail at t = 0.6; dropped, {2} scores 1.
    assert event_f1([1, 0, 1, -1], [0, 1, 1, 0], overlap=0.6) == pytest.approx(2 / 3)


def test_predictions_on_unknown_frames_only_are_no_events():
    # Frames 0-1 unknown and predicted: no predicted event, no true event -> 1.0.
    assert event_f1([0, 0, -1], [1, 1, 0]) == 1.0
    # The same frames absent: one false predicted event, no true event -> 0.0.
    assert event_f1([-1, -1, -1], [1, 1, 0]) == 0.0


def test_edge_cases():
    # No true event, no predicted event: 1.0 at every threshold.
    for overlap in (0.0, 0.5, 1.0):
        assert event_f1([-1, -1, 0, -1], [0, 0, 1, 0], overlap=overlap) == 1.0
    # An empty sequence has no event on either side.
    assert event_f1([], []) == 1.0
    # No true event, some predicted: ER undefined, F1 defined as 0.0.
    assert event_f1([-1, -1, -1], [0, 1, 0], overlap=0.0) == 0.0
    # Some true event, none predicted: 0.0.
    assert event_f1([1, 1, -1], [0, 0, 0], overlap=0.0) == 0.0
    # Both sides have events but they do not overlap: scores 0 and 0. At t = 0.5, ER = EP = 0 -> 0.0 (not NaN);
    # at t = 0 a score of 0 counts, ER = EP = 1 -> 1.0.
    assert event_f1([1, 1, -1, -1], [0, 0, 1, 1], overlap=0.5) == 0.0
    assert event_f1([1, 1, -1, -1], [0, 0, 1, 1], overlap=0.0) == 1.0


def test_curve_values_at_zero_and_one():
    thresholds, f1 = event_f1_curve(LABELS, PREDICTIONS)
    np.testing.assert_array_equal(thresholds, np.linspace(0, 1, 101))
    assert f1.shape == (101,)
    assert f1[0] == 1.0  # t = 0: ER = EP = 1
    assert f1[-1] == pytest.approx(0.5)  # t = 1: ER = 1/2, EP = 1/2
    assert f1[50] == pytest.approx(2 / 3)  # t = 0.5
    # 1/3 < t <= 2/3: ER = 1/2, EP = 1; t <= 1/3: 1; t > 2/3: 1/2.
    expected = np.where(thresholds <= 1 / 3, 1.0, np.where(thresholds <= 2 / 3, 2 / 3, 0.5))
    np.testing.assert_allclose(f1, expected)


def test_curve_with_given_thresholds():
    thresholds, f1 = event_f1_curve(LABELS, PREDICTIONS, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(thresholds, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(f1, [1.0, 2 / 3, 0.5])


def test_curve_of_edge_cases_is_constant():
    _, f1 = event_f1_curve([-1, -1], [0, 0])
    np.testing.assert_array_equal(f1, np.ones(101))
    _, f1 = event_f1_curve([-1, -1], [1, 0])
    np.testing.assert_array_equal(f1, np.zeros(101))
    _, f1 = event_f1_curve([1, -1], [0, 0])
    np.testing.assert_array_equal(f1, np.zeros(101))
    assert event_f1_auc([-1, -1], [0, 0]) == pytest.approx(1.0)
    assert event_f1_auc([-1, -1], [1, 0]) == 0.0
    assert event_f1_auc([1, -1], [0, 0]) == 0.0


def test_score_equal_to_a_rounded_threshold_counts():
    # One true event of 10 frames, 7 predicted: score 7/10. np.linspace(0, 1, 101)[70] is 0.7000000000000001,
    # but 7/10 >= 0.70 as fractions, so the event counts there and not at 0.71.
    labels = [1] * 10
    predictions = [1] * 7 + [0] * 3
    thresholds, f1 = event_f1_curve(labels, predictions)
    assert thresholds[70] > 0.7
    assert f1[70] == 1.0  # ER = 1, EP = 1 (the predicted event {0-6} is fully present)
    assert f1[71] == 0.0  # ER = 0, EP = 1 -> 0
    assert event_f1(labels, predictions, overlap=0.7) == 1.0


def test_area_of_brief_example():
    # Over the grid 0, 0.5, 1: (1 + 2/3)/2 * 0.5 + (2/3 + 1/2)/2 * 0.5 = 5/12 + 7/24 = 17/24.
    assert event_f1_auc(LABELS, PREDICTIONS, [0.0, 0.5, 1.0]) == pytest.approx(17 / 24)
    # Over the default grid: the step function 1 on [0, 1/3], 2/3 on (1/3, 2/3], 1/2 after; the trapezoids
    # with a step inside (0.33-0.34 and 0.66-0.67) average the two levels.
    expected = 0.33 * 1 + 0.01 * (1 + 2 / 3) / 2 + 0.32 * 2 / 3 + 0.01 * (2 / 3 + 1 / 2) / 2 + 0.33 * 0.5
    assert event_f1_auc(LABELS, PREDICTIONS) == pytest.approx(expected)
    assert expected == pytest.approx(reference_area([(LABELS, PREDICTIONS)]))


@pytest.mark.parametrize("seed", range(6))
def test_area_against_pure_python_reference(seed):
    rng = np.random.default_rng(seed)
    for length in (1, 5, 17, 40, 80):
        labels, predictions = random_sequence(rng, length)
        assert event_f1_auc(labels, predictions) == pytest.approx(reference_area([(labels, predictions)]), abs=1e-12)
        thresholds = [Fraction(k, 100) for k in range(101)]
        _, f1 = event_f1_curve(labels, predictions)
        np.testing.assert_allclose(f1, [float(v) for v in reference_curve([(labels, predictions)], thresholds)])


# ----------------------------------------------------------------------------- per AU, pooled over sequences

# Two sequences of 6 frames, 3 AUs (index [n][t][a]).
# AU0: seq 0 labels  1  1 -1 -1  1 -1, predictions 1 0 0 0 0 0 -> true {0-1} score 1/2, {4} score 0; predicted {0} score 1.
#      seq 1 labels -1  1  1  1 -1 -1, predictions 0 1 1 1 0 0 -> true {1-3} score 1; predicted {1-3} score 1.
#      Pooled at 0.5: true scores 1/2, 0, 1 -> ER = 2/3; predicted 1, 1 -> EP = 1; F1 = (4/3) / (5/3) = 4/5.
#      (The mean of the per-sequence F1, 2/3 and 1, would be 5/6.)
# AU1: all absent, never predicted, in both sequences -> no event anywhere -> 1.0.
# AU2: seq 0 all absent, predictions 0 0 1 1 0 0 -> one false predicted event (score 0); seq 1 all present,
#      all predicted -> true score 1, predicted score 1. Pooled: ER = 1, EP = 1/2 -> 2/3.
#      (Per sequence: 0.0 and 1.0.)
AU0 = ([1, 1, -1, -1, 1, -1], [1, 0, 0, 0, 0, 0]), ([-1, 1, 1, 1, -1, -1], [0, 1, 1, 1, 0, 0])
AU1 = ([-1] * 6, [0] * 6), ([-1] * 6, [0] * 6)
AU2 = ([-1] * 6, [0, 0, 1, 1, 0, 0]), ([1] * 6, [1] * 6)
BATCH_LABELS = np.stack([np.stack([AU0[n][0], AU1[n][0], AU2[n][0]], axis=-1) for n in range(2)])
BATCH_PREDICTIONS = np.stack([np.stack([AU0[n][1], AU1[n][1], AU2[n][1]], axis=-1) for n in range(2)])


def test_per_au_pooled_against_hand_count():
    assert BATCH_LABELS.shape == (2, 6, 3)
    np.testing.assert_allclose(event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS), [4 / 5, 1.0, 2 / 3])
    # At t = 0 every score counts: AU0 ER = EP = 1; AU2 ER = EP = 1.
    np.testing.assert_allclose(event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, overlap=0.0), [1.0, 1.0, 1.0])
    # The pooled value is not the mean of the per-sequence values.
    per_sequence = [event_f1(*AU0[n]) for n in range(2)]
    np.testing.assert_allclose(per_sequence, [2 / 3, 1.0])


def test_per_au_equals_one_sequence_with_unknown_separators():
    # An unknown frame between sequences keeps events apart, so pooling equals one concatenated sequence.
    for a, au in enumerate((AU0, AU1, AU2)):
        labels = list(au[0][0]) + [0] + list(au[1][0])
        predictions = list(au[0][1]) + [1] + list(au[1][1])
        for overlap in (0.0, 0.4, 0.5, 1.0):
            assert event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, overlap)[a] == pytest.approx(
                event_f1(labels, predictions, overlap)
            )


def test_per_au_area_against_reference():
    expected = [reference_area(au) for au in (AU0, AU1, AU2)]
    np.testing.assert_allclose(event_f1_auc_per_au(BATCH_LABELS, BATCH_PREDICTIONS), expected, atol=1e-12)
    assert expected[1] == 1.0
    rng = np.random.default_rng(7)
    sequences = [[random_sequence(rng, length) for _ in range(4)] for length in (9, 15, 30, 50)]
    labels = [np.stack([s[0] for s in group], axis=-1) for group in sequences]  # 4 sequences (T_i, 4 AUs)
    predictions = [np.stack([s[1] for s in group], axis=-1) for group in sequences]
    expected = [reference_area([(labels[n][:, a], predictions[n][:, a]) for n in range(4)]) for a in range(4)]
    np.testing.assert_allclose(event_f1_auc_per_au(labels, predictions), expected, atol=1e-12)


def test_per_au_mask_breaks_events():
    # Mask out frame 2 of sequence 1 (a gap). AU0 seq 1: true {1}, {3} (scores 1, 1); predicted {1}, {3}
    # (scores 1, 1). Pooled with seq 0: true 1/2, 0, 1, 1 -> ER = 3/4; predicted 1, 1, 1 -> EP = 1;
    # F1 = (3/2) / (7/4) = 6/7. AU1 unchanged (1.0). AU2 seq 1: true {0-1}, {3-5}, predicted the same, all
    # scores 1; with seq 0's false event: ER = 1, EP = 2/3 -> (4/3) / (5/3) = 4/5.
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 2] = False
    np.testing.assert_allclose(event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=mask), [6 / 7, 1.0, 4 / 5])
    # An all-True mask changes nothing.
    np.testing.assert_allclose(
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=np.ones((2, 6), dtype=bool)), [4 / 5, 1.0, 2 / 3]
    )
    # A 0/1 integer mask is accepted as boolean.
    np.testing.assert_allclose(
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=mask.astype(int)), [6 / 7, 1.0, 4 / 5]
    )


def test_list_of_varying_length_equals_padded_batch_with_mask():
    # Sequence 1 cut to its first 4 frames. AU0 seq 1: labels -1 1 1 1, predictions 0 1 1 1 -> true {1-3} and
    # predicted {1-3}, scores 1: same pooled value 4/5. AU2 seq 1: 1 1 1 1 all predicted -> same, 2/3.
    sequences_labels = [BATCH_LABELS[0], BATCH_LABELS[1, :4]]
    sequences_predictions = [BATCH_PREDICTIONS[0], BATCH_PREDICTIONS[1, :4]]
    expected = [4 / 5, 1.0, 2 / 3]
    np.testing.assert_allclose(event_f1_per_au(sequences_labels, sequences_predictions), expected)
    # The same as a padded batch: the padding holds values that are not labels or decisions at all, and the
    # mask makes them ignored.
    labels, predictions = BATCH_LABELS.copy(), BATCH_PREDICTIONS.copy()
    labels[1, 4:] = 7
    predictions[1, 4:] = 5
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    np.testing.assert_allclose(event_f1_per_au(labels, predictions, mask=mask), expected)
    # A list of (T_i,) masks for the list form.
    np.testing.assert_allclose(
        event_f1_per_au(sequences_labels, sequences_predictions, mask=[np.ones(6, bool), np.ones(4, bool)]), expected
    )
    np.testing.assert_allclose(
        event_f1_auc_per_au(sequences_labels, sequences_predictions),
        event_f1_auc_per_au(labels, predictions, mask=mask),
    )


def test_per_au_single_sequence_matches_event_f1():
    rng = np.random.default_rng(3)
    pairs = [random_sequence(rng, 25) for _ in range(10)]
    labels = np.stack([p[0] for p in pairs], axis=-1)[None]  # (1, 25, 10)
    predictions = np.stack([p[1] for p in pairs], axis=-1)[None]
    np.testing.assert_allclose(event_f1_per_au(labels, predictions, 0.3), [event_f1(y, p, 0.3) for y, p in pairs])
    np.testing.assert_allclose(event_f1_auc_per_au(labels, predictions), [event_f1_auc(y, p) for y, p in pairs])


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "labels, predictions, overlap, match",
    [
        ([1, -1, 1], [1, 0], 0.5, "same length"),
        ([[1, -1]], [[1, 0]], 0.5, "1-D"),
        ([1, -1], [[1, 0]], 0.5, "1-D"),
        ([1, 2, -1], [1, 0, 0], 0.5, r"\+1, -1 or 0. Received values: \[2\]"),
        ([1, -1, 1], [1, 0, 2], 0.5, r"0/1 decisions. Received values: \[2\]"),
        ([1, -1, 1], [1, 0, 0.5], 0.5, r"0/1 decisions. Received values: \[0.5\]"),
        ([1, -1], [1, 0], -0.1, r"`overlap` must be a number in \[0, 1\]. Received: overlap=-0.1"),
        ([1, -1], [1, 0], 1.5, r"overlap=1.5"),
        ([1, -1], [1, 0], float("nan"), r"overlap=nan"),
        ([1, -1], [1, 0], "half", r"overlap='half'"),
    ],
)
def test_event_f1_errors(labels, predictions, overlap, match):
    with pytest.raises(ValueError, match=match) as info:
        event_f1(labels, predictions, overlap)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "thresholds, match",
    [
        ([[0.0, 1.0]], "non-empty 1-D"),
        ([], "non-empty 1-D"),
        ([0.0, 1.5], r"lie in \[0, 1\]. Received values: \[1.5\]"),
        ([-0.5, 1.0], r"Received values: \[-0.5\]"),
    ],
)
def test_threshold_errors(thresholds, match):
    with pytest.raises(ValueError, match=match):
        event_f1_curve(LABELS, PREDICTIONS, thresholds)
    with pytest.raises(ValueError, match=match):
        event_f1_auc(LABELS, PREDICTIONS, thresholds)


@pytest.mark.parametrize(
    "thresholds, match",
    [
        ([0.0, 0.6, 0.5, 1.0], "strictly increasing"),
        ([0.0], "strictly increasing"),
        ([0.1, 1.0], r"start at 0 and end at 1.*thresholds\[0\]=0.1"),
        ([0.0, 0.9], r"thresholds\[-1\]=0.9"),
    ],
)
def test_area_threshold_errors(thresholds, match):
    with pytest.raises(ValueError, match=match):
        event_f1_auc(LABELS, PREDICTIONS, thresholds)
    with pytest.raises(ValueError, match=match):
        event_f1_auc_per_au(BATCH_LABELS, BATCH_PREDICTIONS, thresholds)
    # The curve itself takes any thresholds in [0, 1].
    _, f1 = event_f1_curve(LABELS, PREDICTIONS, [0.6, 0.5])
    np.testing.assert_allclose(f1, [2 / 3, 2 / 3])


def test_per_au_errors():
    with pytest.raises(ValueError, match=r"shape \(N, T, num_aus\) or be a list.*labels.shape=\(2, 6\)"):
        event_f1_per_au(BATCH_LABELS[:, :, 0], BATCH_PREDICTIONS[:, :, 0])
    with pytest.raises(ValueError, match=r"`labels\[1\]` must have shape \(T_i, num_aus\). Received: shape=\(4,\)"):
        event_f1_per_au([BATCH_LABELS[0], BATCH_LABELS[1, :4, 0]], [BATCH_PREDICTIONS[0], BATCH_PREDICTIONS[1, :4, 0]])
    with pytest.raises(ValueError, match="as many sequences. Received: 2 and 1"):
        event_f1_per_au(list(BATCH_LABELS), [BATCH_PREDICTIONS[0]])
    with pytest.raises(ValueError, match="at least one sequence"):
        event_f1_per_au([], [])
    with pytest.raises(ValueError, match=r"Sequence 1 must have shape \(T_i, 3\).*labels\[1\].shape=\(6, 2\)"):
        event_f1_per_au([BATCH_LABELS[0], BATCH_LABELS[1, :, :2]], [BATCH_PREDICTIONS[0], BATCH_PREDICTIONS[1, :, :2]])
    with pytest.raises(ValueError, match=r"Sequence 0 must have shape.*predictions\[0\].shape=\(5, 3\)"):
        event_f1_per_au(list(BATCH_LABELS), [BATCH_PREDICTIONS[0, :5], BATCH_PREDICTIONS[1]])
    bad = BATCH_LABELS.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"\+1, -1 or 0. Received values: \[3\]"):
        event_f1_per_au(bad, BATCH_PREDICTIONS)
    bad = BATCH_PREDICTIONS.copy()
    bad[1, 0, 2] = -1
    with pytest.raises(ValueError, match=r"0/1 decisions. Received values: \[-1\]"):
        event_f1_per_au(BATCH_LABELS, bad)
    with pytest.raises(ValueError, match=r"overlap=2"):
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, overlap=2)


def test_mask_errors():
    with pytest.raises(ValueError, match=r"`mask` must have shape \(N, T\). Received: mask.shape=\(12,\)"):
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=np.ones(12, bool))
    with pytest.raises(ValueError, match=r"`mask\[0\]` must have shape \(6,\). Received: shape=\(5,\)"):
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match=r"one row per sequence \(2\). Received: 3 rows"):
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=np.ones((3, 6), bool))
    with pytest.raises(ValueError, match=r"`mask` must be boolean.*Received values: \[0.5\]"):
        event_f1_per_au(BATCH_LABELS, BATCH_PREDICTIONS, mask=np.array([[1, 1, 1, 1, 1, 0.5], [1, 1, 1, 1, 1, 0]]))
    with pytest.raises(ValueError, match=r"`mask\[1\]` must have shape \(4,\)"):
        event_f1_auc_per_au(
            [BATCH_LABELS[0], BATCH_LABELS[1, :4]],
            [BATCH_PREDICTIONS[0], BATCH_PREDICTIONS[1, :4]],
            mask=[np.ones(6, bool), np.ones(6, bool)],
        )
