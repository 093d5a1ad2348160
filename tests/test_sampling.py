"""Tests of aufera.sampling: random, stratified (Chu et al. 2019 Alg. 1) and MOMU (Alg. 2) batch plans."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aufera.au import AU_KEYS, FERA2017_TRAIN_BASE_RATES, NUM_AUS
from aufera.data.pipeline import SplitArrays, dataset_from_arrays
from aufera.sampling import (
    batch_au_counts,
    momu_batches,
    random_batches,
    stratified_batches,
)

BATCH = 64


def skewed_labels(rows: int = 5000, seed: int = 7) -> np.ndarray:
    """FERA-like base rates with AU15 and AU23 made rare (2%) and 2% unknown labels."""
    rates = np.array(FERA2017_TRAIN_BASE_RATES)
    rates[AU_KEYS.index("AU15")] = 0.02
    rates[AU_KEYS.index("AU23")] = 0.02
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((rows, NUM_AUS)) < rates, 1, -1).astype(np.int8)
    labels[rng.random((rows, NUM_AUS)) < 0.02] = 0
    return labels


@pytest.fixture(scope="module")
def labels():
    return skewed_labels()


def between_std(labels, plan) -> float:
    """Mean over AUs of the standard deviation over batches of the AU's count."""
    return float(batch_au_counts(labels, plan).std(axis=0).mean())


def within_ratio(labels, plan) -> float:
    """Mean over batches of (max + 1) / (min + 1) of the AU counts, over AUs with positives."""
    counts = batch_au_counts(labels, plan)[:, (labels == 1).any(axis=0)]
    return float(np.mean((counts.max(axis=1) + 1) / (counts.min(axis=1) + 1)))


def assert_epoch(plan, rows):
    flat = np.concatenate(plan)
    assert flat.dtype == np.int64
    np.testing.assert_array_equal(np.sort(flat), np.arange(rows))


# === batch_au_counts ===


def test_batch_au_counts_matches_loop(labels):
    plan = [np.array([0, 5, 9]), np.array([3]), np.array([4999, 1, 2, 3])]
    expected = np.stack([(labels[batch] == 1).sum(axis=0) for batch in plan])
    np.testing.assert_array_equal(batch_au_counts(labels, plan), expected)


# === Random ===


def test_random_uses_every_frame_once(labels):
    plan = random_batches(labels, BATCH, seed=1)
    assert_epoch(plan, 5000)
    assert len(plan) == math.ceil(5000 / BATCH) == 79
    assert [b.size for b in plan[:-1]] == [BATCH] * 78
    assert plan[-1].size == 5000 - 78 * BATCH == 8


def test_random_drop_remainder(labels):
    plan = random_batches(labels, BATCH, seed=1, drop_remainder=True)
    assert len(plan) == 78 and all(b.size == BATCH for b in plan)
    assert np.unique(np.concatenate(plan)).size == 78 * BATCH


# === Stratified ===


def test_stratified_hand_worked_example():
    # 6 frames, batch_size 3 -> B = 2 batches. Columns 0-2 are AU1, AU4, AU6.
    labels = -np.ones((6, NUM_AUS), dtype=np.int8)
    labels[0, [0, 1]] = 1  # AU1, AU4
    labels[1, 1] = 1  # AU4
    labels[2, [1, 2]] = 1  # AU4, AU6
    labels[3, 2] = 1  # AU6
    labels[5, 2] = 0  # no AU active (one unknown)
    # Round 1: counts AU1=1, AU4=3, AU6=2 -> AU1: frame 0 -> batch 0.
    # Round 2: remaining counts AU4=2, AU6=2, tie -> AU4: frames 1, 2 -> batches 1, 0.
    # Round 3: AU6 among frames 3, 4, 5: frame 3 -> batch 1.
    # Last round, frames with no active AU: 4, 5 -> batches 0, 1.
    plan = stratified_batches(labels, 3, order="index")
    assert [b.tolist() for b in plan] == [[0, 2, 4], [1, 3, 5]]
    for seed in range(5):
        plan = stratified_batches(labels, 3, seed=seed)
        np.testing.assert_array_equal(batch_au_counts(labels, plan)[:, :3], [[1, 2, 1], [0, 1, 1]])


def test_stratified_balanced_order_spreads_co_occurring_aus():
    # 8 frames, 2 batches. Round 1 deals AU1 frames 0-3; frames 0 and 1 also hold AU4.
    labels = -np.ones((8, NUM_AUS), dtype=np.int8)
    labels[0:4, 0] = 1
    labels[[0, 1, 4, 5], 1] = 1
    for seed in range(20):
        counts = batch_au_counts(labels, stratified_batches(labels, 4, seed=seed))
        np.testing.assert_array_equal(counts[:, :2], [[2, 2], [2, 2]])
    # Dealt in random order (the literal reading), AU4 is split 1 / 3 for some seeds.
    shuffled = [
        batch_au_counts(labels, stratified_batches(labels, 4, seed=s, order="shuffled"))[0, 1] for s in range(20)
    ]
    assert set(shuffled) == {1, 2, 3}


@pytest.mark.parametrize("order", ["balanced", "shuffled", "index"])
def test_stratified_epoch_sizes_and_rarest_au(labels, order):
    plan = stratified_batches(labels, BATCH, seed=3, order=order)
    assert_epoch(plan, 5000)
    assert len(plan) == 79
    sizes = np.array([b.size for b in plan])
    # 5000 = 79 * 63 + 23: the first 23 batches hold 64 frames, the others 63.
    np.testing.assert_array_equal(sizes, [64] * 23 + [63] * 56)
    positives = (labels == 1).sum(axis=0)
    rarest = int(np.argmin(positives))
    per_batch = batch_au_counts(labels, plan)[:, rarest]
    assert per_batch.sum() == positives[rarest]
    assert set(per_batch.tolist()) <= {positives[rarest] // 79, -(-positives[rarest] // 79)}


def test_stratified_spreads_aus_between_batches(labels):
    random_std = between_std(labels, random_batches(labels, BATCH, seed=3))
    balanced_std = between_std(labels, stratified_batches(labels, BATCH, seed=3))
    shuffled_std = between_std(labels, stratified_batches(labels, BATCH, seed=3, order="shuffled"))
    assert random_std > 3.5
    assert balanced_std < 0.5 * random_std
    assert shuffled_std < 0.8 * random_std


def test_stratified_shuffles_inside_batches(labels):
    plan = stratified_batches(labels, BATCH, seed=3)
    assert sum(np.all(np.diff(b) > 0) for b in plan) < 5


# === MOMU ===


def test_momu_shapes_and_distinct_frames(labels):
    plan = momu_batches(labels, BATCH, num_batches=60, seed=2)
    assert len(plan) == 60
    for batch in plan:
        assert batch.dtype == np.int64 and batch.size == BATCH
        assert np.unique(batch).size == BATCH
        assert batch.min() >= 0 and batch.max() < 5000


def test_momu_balances_within_batches(labels):
    random_ratio = within_ratio(labels, random_batches(labels, BATCH, seed=2, drop_remainder=True))
    momu_ratio = within_ratio(labels, momu_batches(labels, BATCH, num_batches=78, seed=2))
    assert random_ratio > 10
    assert momu_ratio < 0.5 * random_ratio
    assert momu_ratio < 4


def test_momu_first_chunk_holds_rarest_au(labels):
    rarest = int(np.argmin((labels == 1).sum(axis=0)))
    for batch in momu_batches(labels, BATCH, num_batches=20, seed=4, chunk=8):
        assert np.all(labels[batch[:8], rarest] == 1)


def test_momu_restores_exhausted_au():
    # AU1 has 10 frames; every batch wants about 4 of them, so 5 batches need a restore.
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((400, NUM_AUS)) < 0.5, 1, -1).astype(np.int8)
    labels[:, 0] = -1
    rare = np.arange(10) * 7
    labels[rare, 0] = 1
    plan = momu_batches(labels, 16, num_batches=5, seed=0, chunk=4)
    assert len(plan) == 5 and all(b.size == 16 and np.unique(b).size == 16 for b in plan)
    uses = np.concatenate(plan)
    rare_uses = np.bincount(uses[np.isin(uses, rare)], minlength=400)[rare]
    assert rare_uses.sum() >= 4 * 5 > 10
    assert rare_uses.min() >= 1 and rare_uses.max() - rare_uses.min() <= 2
    # Frames of common AUs are drawn without replacement: none repeats in 5 batches.
    common = uses[~np.isin(uses, rare)]
    assert np.unique(common).size == common.size


def test_momu_skips_au_without_positives(labels):
    no_au6 = labels.copy()
    no_au6[:, AU_KEYS.index("AU6")] = -1
    plan = momu_batches(no_au6, BATCH, num_batches=10, seed=0)
    assert all(b.size == BATCH for b in plan)
    assert batch_au_counts(no_au6, plan)[:, AU_KEYS.index("AU6")].sum() == 0


def test_momu_tiny_dataset_completes_batches():
    # Only 2 frames carry an AU; the rest of each batch is filled with other distinct frames.
    labels = -np.ones((6, NUM_AUS), dtype=np.int8)
    labels[[1, 4], 3] = 1
    plan = momu_batches(labels, 5, num_batches=3, seed=0, chunk=2)
    for batch in plan:
        assert batch.size == 5 and np.unique(batch).size == 5
        assert {1, 4} <= set(batch.tolist())


# === Determinism ===


@pytest.mark.parametrize(
    "sampler",
    [
        lambda labels, seed: random_batches(labels, BATCH, seed=seed),
        lambda labels, seed: stratified_batches(labels, BATCH, seed=seed),
        lambda labels, seed: stratified_batches(labels, BATCH, seed=seed, order="shuffled"),
        lambda labels, seed: momu_batches(labels, BATCH, 20, seed=seed),
    ],
)
def test_same_seed_same_plan(labels, sampler):
    first, again, other = sampler(labels, 5), sampler(labels, 5), sampler(labels, 6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


# === Batch plan -> tf.data (aufera.data.pipeline.dataset_from_arrays) ===


def plan_arrays(rows: int, seed: int = 0, labels=None) -> SplitArrays:
    """A split in memory with random frames, labels and views, and a zero mean (the batches hold the raw frames)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(rows, NUM_AUS))
    return SplitArrays(
        image=rng.integers(0, 256, size=(rows, 6, 5, 1), dtype=np.uint8),
        au=np.asarray(labels, np.int8),
        view=rng.integers(0, 9, size=rows).astype(np.int32),
        subject=np.array(["F001"] * rows),
        task=np.array(["T1"] * rows),
        frame=np.arange(rows, dtype=np.int64),
        mean=np.zeros((6, 5, 1), np.float32),
    )


def test_batch_plan_dataset_yields_planned_frames():
    arrays = plan_arrays(12)
    # Unequal batch sizes, a repeated row, rows out of order.
    plan = [np.array([3, 1]), np.array([0, 5, 7]), np.array([11]), np.array([2, 2, 9, 4])]
    batches = list(dataset_from_arrays(arrays, batch_plan=plan).as_numpy_iterator())
    assert len(batches) == len(plan)
    for (image, targets), index in zip(batches, plan, strict=True):
        assert image.dtype == np.float32 and image.shape == (len(index), 6, 5, 1)
        np.testing.assert_array_equal(np.rint(image * 255.0).astype(np.uint8), arrays.image[index])
        np.testing.assert_array_equal(targets["au"], arrays.au[index])
        np.testing.assert_array_equal(targets["view"], arrays.view[index])
        assert targets["au"].dtype == np.float32 and targets["view"].dtype == np.int32
    _, no_views = next(dataset_from_arrays(arrays, targets="network2", batch_plan=plan).as_numpy_iterator())
    assert set(no_views) == {"au"}


def test_batch_plan_dataset_follows_a_sampler_plan_in_order(labels):
    arrays = plan_arrays(len(labels), labels=labels)
    plan = stratified_batches(labels, BATCH, seed=3)[:10]
    equal = momu_batches(labels, BATCH, num_batches=5, seed=2)
    for chosen in (plan, equal):  # unequal batch sizes (a ragged plan) and equal ones
        batches = list(dataset_from_arrays(arrays, batch_plan=chosen).as_numpy_iterator())
        assert len(batches) == len(chosen)
        for (_, targets), index in zip(batches, chosen, strict=True):
            np.testing.assert_array_equal(targets["au"], labels[index])
            np.testing.assert_array_equal(targets["view"], arrays.view[index])
        counts = np.stack([(targets["au"] == 1).sum(axis=0) for _, targets in batches])
        np.testing.assert_array_equal(counts, batch_au_counts(labels, chosen))
    # Repeated, the plan comes back in the same order.
    twice = [t["au"] for _, t in dataset_from_arrays(arrays, batch_plan=equal, repeat=2).as_numpy_iterator()]
    assert len(twice) == 2 * len(equal)
    for au, index in zip(twice, list(equal) * 2, strict=True):
        np.testing.assert_array_equal(au, labels[index])


def test_batch_plan_dataset_rejects_bad_inputs():
    arrays = plan_arrays(4)
    with pytest.raises(ValueError, match=r"in \[0, 4\)\. Received: row 4"):
        dataset_from_arrays(arrays, batch_plan=[np.array([0, 4])])
    with pytest.raises(ValueError, match="batch_plan"):
        dataset_from_arrays(arrays, batch_plan=[np.array([1]), np.array([-1, 0])])
    with pytest.raises(ValueError, match=r"shape=\(3, 3, 1\)"):
        dataset_from_arrays(arrays, np.zeros((3, 3, 1), np.float32), batch_plan=[np.array([0])])


# === Validation ===


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: random_batches(np.zeros((5, 9)), 2), r"shape=\(5, 9\)"),
        (lambda: stratified_batches(np.zeros(10), 2), r"shape=\(10,\)"),
        (lambda: stratified_batches(np.full((3, NUM_AUS), 2), 2), r"Received: \[2\]"),
        (lambda: momu_batches(np.full((3, NUM_AUS), 9), 2, 1), r"Received: \[9\]"),
        (lambda: random_batches(np.zeros((3, NUM_AUS)), 0), "batch_size=0"),
        (lambda: stratified_batches(np.zeros((3, NUM_AUS)), 2.5), "batch_size=2.5"),
        (lambda: stratified_batches(np.zeros((3, NUM_AUS)), 2, order="sorted"), "order='sorted'"),
        (lambda: momu_batches(np.ones((3, NUM_AUS)), 2, 0), "num_batches=0"),
        (lambda: momu_batches(np.ones((3, NUM_AUS)), 2, 1, chunk=-1), "chunk=-1"),
        (lambda: momu_batches(np.ones((3, NUM_AUS)), 4, 1), "batch_size=4"),
        (lambda: momu_batches(-np.ones((3, NUM_AUS)), 2, 1), "no \\+1"),
        (lambda: batch_au_counts(np.ones((3, NUM_AUS)), []), r"plan=\[\]"),
    ],
)
def test_bad_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
