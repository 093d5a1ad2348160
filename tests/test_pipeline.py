"""Tests of aufera.data.pipeline on a tiny prepared synthetic dataset."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from aufera.data import pipeline
from aufera.data.pipeline import (
    Augmentation,
    dataset_from_arrays,
    load_dataset_info,
    load_split_arrays,
    make_dataset,
)
from aufera.errors import AuferaError


@pytest.fixture(scope="module")
def dataset(tiny_dataset):
    """The session's tiny prepared dataset (tests/conftest.py): 2 training subjects, 1 validation subject."""
    return tiny_dataset


@pytest.fixture(scope="module")
def records(dataset):
    """The training split read independently of the pipeline, in shard order."""
    builder = tfds.builder_from_directory(dataset)
    rows = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    return {
        "image": np.stack([r["image"] for r in rows]),
        "au": np.stack([r["au"] for r in rows]),
        "view": np.array([r["view"] for r in rows]),
        "subject": np.array([r["subject"].decode() for r in rows]),
        "mean": np.load(f"{dataset}/mean_image.npy"),
    }


def batches(ds):
    return [(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in ds]


def concat(ds):
    got = batches(ds)
    return np.concatenate([x for x, _ in got]), {k: np.concatenate([y[k] for _, y in got]) for k in got[0][1]}


def test_batches_shapes_dtypes_and_exact_values(dataset, records):
    n = len(records["view"])
    ds = make_dataset(dataset, "train", batch_size=4)
    got = batches(ds)
    assert [x.shape for x, _ in got] == [(4, 132, 132, 1)] * (n // 4) + ([(n % 4, 132, 132, 1)] if n % 4 else [])
    x, y = got[0]
    assert x.dtype == np.float32 and y["au"].dtype == np.float32 and y["view"].dtype == np.int32
    assert set(y) == {"au", "view"} and y["au"].shape == (4, 10)
    images, labels = concat(ds)
    expected = records["image"] / 255.0 - records["mean"] / 255.0
    np.testing.assert_allclose(images, expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(labels["au"], records["au"].astype(np.float32))
    np.testing.assert_array_equal(labels["view"], records["view"])
    assert set(np.unique(labels["au"])) <= {-1.0, 0.0, 1.0}
    # Mean removal: the training images average to zero.
    assert abs(float(images.mean(axis=0).max())) < 1e-5


def test_network2_targets_are_au_only(dataset):
    _, y = next(iter(make_dataset(dataset, "validation", batch_size=2, targets="network2")))
    assert set(y) == {"au"}
    with pytest.raises(ValueError, match="targets='bad'"):
        make_dataset(dataset, "train", targets="bad")


def test_subject_filters_keep_only_and_the_complement(dataset, records):
    subjects = sorted(set(records["subject"]))
    assert len(subjects) == 2
    keep, drop = subjects
    _, only = concat(make_dataset(dataset, "train", batch_size=8, subjects=[keep]))
    _, rest = concat(make_dataset(dataset, "train", batch_size=8, exclude_subjects=[keep]))
    np.testing.assert_array_equal(only["view"], records["view"][records["subject"] == keep])
    np.testing.assert_array_equal(rest["view"], records["view"][records["subject"] == drop])
    arrays = load_split_arrays(dataset, "train", subjects=[keep])
    assert set(arrays.subject) == {keep} and len(arrays) == int((records["subject"] == keep).sum())
    full = load_split_arrays(dataset, "train")
    np.testing.assert_array_equal(full.subject_rows(exclude_subjects=[keep]), np.flatnonzero(full.subject == drop))
    with pytest.raises(AuferaError, match="NOBODY"):
        make_dataset(dataset, "train", subjects=["NOBODY"])


def test_deterministic_with_seed(dataset):
    def run(seed):
        ds = make_dataset(dataset, "train", batch_size=4, training=True, seed=seed, shuffle_buffer=64)
        return concat(ds)

    (x1, y1), (x2, y2), (x3, _) = run(3), run(3), run(4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1["view"], y2["view"])
    assert not np.array_equal(x1, x3)
    ds = make_dataset(dataset, "train", batch_size=4, training=True, seed=3)
    assert ds.options().deterministic


def test_shift_augmentation_is_a_zero_filled_shift_within_bounds(dataset):
    plain, _ = concat(make_dataset(dataset, "train", batch_size=4))
    aug = Augmentation(max_shift=4, max_brightness=0.0, max_contrast=0.0)
    shifted, _ = concat(make_dataset(dataset, "train", batch_size=4, seed=1, augment=aug))
    assert not np.array_equal(plain, shifted)
    found = []
    for p, s in zip(plain[..., 0], shifted[..., 0], strict=True):
        padded = np.pad(p, 4)
        matches = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if np.array_equal(s, padded[4 - dy : 4 - dy + 132, 4 - dx : 4 - dx + 132])
        ]
        assert matches, "an augmented image is not a shift of at most 4 px of the plain one"
        found.append(matches[0])
    assert len(set(found)) > 1  # every image draws its own shift


def test_brightness_augmentation_stays_within_bounds(dataset, records):
    plain, _ = concat(make_dataset(dataset, "train", batch_size=4))
    aug = Augmentation(max_shift=0, max_brightness=0.1, max_contrast=0.0)
    bright, _ = concat(make_dataset(dataset, "train", batch_size=4, seed=2, augment=aug))
    diff = bright - plain
    assert np.abs(diff).max() <= 0.1 + 1e-6 and np.abs(diff).max() > 0
    pixels = records["image"] / 255.0
    for d, p in zip(diff, pixels, strict=True):
        inside = (p > 0.1) & (p < 0.9)  # away from the clip at 0 and 1: one constant change per image
        assert np.ptp(d[inside]) < 1e-5


def test_contrast_augmentation_scales_about_each_image_mean(dataset, records):
    plain, _ = concat(make_dataset(dataset, "train", batch_size=4))
    aug = Augmentation(max_shift=0, max_brightness=0.0, max_contrast=0.4)
    out, _ = concat(make_dataset(dataset, "train", batch_size=4, seed=6, augment=aug))
    mean01 = records["mean"] / 255.0
    factors = []
    for p01, o in zip(records["image"] / 255.0, out + mean01, strict=True):
        centre = p01.mean()
        inside = (o > 1e-4) & (o < 1 - 1e-4) & (np.abs(p01 - centre) > 0.05)  # unclipped, off the centre
        factor = (o[inside] - centre) / (p01[inside] - centre)
        assert np.ptp(factor) < 1e-3  # one factor per image, about the image's own mean
        factors.append(factor.mean())
        np.testing.assert_allclose(o, np.clip(centre + factor.mean() * (p01 - centre), 0, 1), atol=1e-4)
    factors = np.array(factors)
    assert factors.min() >= 0.6 - 1e-4 and factors.max() <= 1.4 + 1e-4
    assert np.ptp(factors) > 0.05  # every image draws its own factor
    with pytest.raises(ValueError, match="max_contrast"):
        Augmentation(max_contrast=1.0)


def test_flip_mirrors_images_and_views(dataset, records):
    plain, y = concat(make_dataset(dataset, "train", batch_size=4))
    aug = Augmentation(max_shift=0, max_brightness=0.0, max_contrast=0.0, flip=True)
    flipped, yf = concat(make_dataset(dataset, "train", batch_size=4, seed=5, augment=aug))
    mirrored_view = y["view"] - y["view"] % 3 + (2 - y["view"] % 3)
    mean01 = records["mean"] / 255.0
    flips = 0
    for i in range(len(plain)):
        x01 = plain[i] + mean01
        if not np.allclose(flipped[i], plain[i], atol=1e-6):
            np.testing.assert_allclose(flipped[i] + mean01, x01[:, ::-1], atol=1e-6)
            assert yf["view"][i] == mirrored_view[i]  # yaw index y -> 2 - y; frontal views keep theirs
            flips += 1
        else:
            assert yf["view"][i] == y["view"][i]
    assert 0 < flips < len(plain)


def test_cache_gives_the_same_batches(dataset):
    ds = make_dataset(dataset, "train", batch_size=4, training=True, seed=7, cache=True, shuffle_files=False)
    first, second = concat(ds), concat(ds)
    ref = concat(make_dataset(dataset, "train", batch_size=4, training=True, seed=7, shuffle_files=False))
    np.testing.assert_array_equal(first[0], ref[0])
    assert not np.array_equal(first[0], second[0])  # epoch 2 reshuffles and re-draws the augmentation


def test_arrays_match_records_and_tfds_batches(dataset, records):
    arrays = load_split_arrays(dataset, "train")
    np.testing.assert_array_equal(arrays.image, records["image"])
    np.testing.assert_array_equal(arrays.au, records["au"])
    np.testing.assert_array_equal(arrays.view, records["view"])
    assert arrays.image.dtype == np.uint8 and arrays.au.dtype == np.int8
    for kwargs in ({"training": False}, {"training": True, "seed": 11, "shuffle_buffer": 32}):
        a = batches(dataset_from_arrays(arrays, records["mean"], 4, **kwargs))
        t = batches(make_dataset(dataset, "train", 4, shuffle_files=False, **kwargs))
        assert len(a) == len(t)
        for (xa, ya), (xt, yt) in zip(a, t, strict=True):
            np.testing.assert_array_equal(xa, xt)
            np.testing.assert_array_equal(ya["au"], yt["au"])
            np.testing.assert_array_equal(ya["view"], yt["view"])


def test_batch_plan_and_indices(dataset, records):
    arrays = load_split_arrays(dataset, "train")
    plan = [np.array([3, 1]), np.array([0, 2, 5])]
    got = batches(dataset_from_arrays(arrays, None, targets="network2", batch_plan=plan))
    assert [x.shape[0] for x, _ in got] == [2, 3]
    expected = records["image"][[0, 2, 5]] / 255.0 - records["mean"] / 255.0
    np.testing.assert_allclose(got[1][0], expected, atol=1e-6)
    x, y = concat(dataset_from_arrays(arrays, None, 4, indices=[5, 4]))
    np.testing.assert_array_equal(y["view"], records["view"][[5, 4]])
    with pytest.raises(ValueError, match="batch_plan"):
        dataset_from_arrays(arrays, None, batch_plan=[[len(arrays)]])


def test_bad_paths_raise_aufera_error_naming_the_path(tmp_path, dataset):
    with pytest.raises(AuferaError, match=str(tmp_path)):
        load_dataset_info(tmp_path)
    with pytest.raises(AuferaError, match=str(tmp_path / "missing")):
        make_dataset(tmp_path / "missing", "train")
    # A copy of the dataset without its mean image.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    (copy / "mean_image.npy").unlink()
    with pytest.raises(AuferaError, match="mean_image.npy"):
        load_split_arrays(copy, "train")
    with pytest.raises(AuferaError, match="'test'"):
        make_dataset(dataset, "test")


def test_every_map_uses_autotune_and_the_pipeline_ends_in_prefetch(dataset):
    # In the source: every `.map(` call passes num_parallel_calls=tf.data.AUTOTUNE.
    tree = ast.parse(inspect.getsource(pipeline))
    maps = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "map"]
    assert maps
    for call in maps:
        kwargs = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert kwargs.get("num_parallel_calls") == "tf.data.AUTOTUNE", ast.unparse(call)
    # In the built graphs: only parallel maps, and a prefetch at the end.
    arrays = load_split_arrays(dataset, "train")
    for ds in (
        make_dataset(dataset, "train", 4, training=True, seed=0, cache=True),
        dataset_from_arrays(arrays, None, 4, training=True, seed=0),
    ):
        graph = tf.compat.v1.GraphDef.FromString(tf.raw_ops.DatasetToGraphV2(input_dataset=ds._variant_tensor).numpy())
        ops = [node.op for node in graph.node]
        assert "MapDataset" not in ops and any(op.startswith("ParallelMapDataset") for op in ops)
        assert "PrefetchDataset" in ops
        assert isinstance(ds, tf.data.Dataset) and type(ds).__name__ == "_OptionsDataset"
