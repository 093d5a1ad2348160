"""DRML and ConvNet through `aufera train`: 200-px data, 170 crops (random when augmenting), the centre crop in validation."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from model_harness import KillAfterFirstEpoch
from sklearn.metrics import f1_score

from aufera.config import resolve_config
from aufera.data.augmentation import Augmentation
from aufera.data.pipeline import dataset_from_arrays, load_split_arrays
from aufera.filenames import history_file, model_file
from aufera.models import DRML, RegionLayer
from aufera.training import read_history, train

# Tiny and fast: 3 batches of 8 per epoch, 16 validation frames.
TINY = ["epochs_drml=2", "batch_size=8", "max_steps_per_epoch=3", "validation.max_examples=16"]


@pytest.fixture(scope="module")
def dataset200(tiny_corpus, tmp_path_factory):
    """The session's tiny corpus prepared as 200-px crops (DRML's dataset size)."""
    from aufera.data.prepare import prepare

    return prepare(tiny_corpus, tmp_path_factory.mktemp("tiny200"), image_size=200, workers=1, progress=False)[
        "dataset"
    ]


@pytest.fixture(scope="module")
def arrays(dataset200):
    return load_split_arrays(dataset200, "validation")


def _normalised(arrays) -> np.ndarray:
    return arrays.image.astype(np.float32) / np.float32(255.0) - arrays.mean.astype(np.float32) / np.float32(255.0)


def _training_batch(arrays, augment, rows) -> np.ndarray:
    """The first training batch of DRML's pipeline (170 crops) over `rows`, in order, seed 3."""
    ds = dataset_from_arrays(
        arrays,
        None,
        len(rows),
        training=True,
        seed=3,
        augment=augment,
        targets="drml",
        indices=rows,
        shuffle=False,
        crop_size=170,
    )
    return next(iter(ds))[0].numpy()


def test_evaluation_batches_are_the_centre_crop(arrays):
    ds = dataset_from_arrays(arrays, None, 16, training=False, targets="drml", crop_size=170)
    images, labels = next(iter(ds))
    assert set(labels) == {"au"}
    expected = _normalised(arrays)[:16, 15:185, 15:185, :]
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-6)


def test_training_batches_are_random_170_windows_possibly_mirrored(arrays):
    augment = Augmentation(max_shift=0, max_brightness=0.0, max_contrast=0.0, flip=True)
    rows = np.arange(8)
    images = _training_batch(arrays, augment, rows)
    assert images.shape == (8, 170, 170, 1)
    # Flips mirror the face before the (unmirrored) training mean is subtracted, as for every aufera model.
    pixels = arrays.image[rows].astype(np.float32) / np.float32(255.0)
    mean = arrays.mean.astype(np.float32) / np.float32(255.0)
    offsets = []
    for image, source in zip(images, pixels, strict=True):
        found = [
            (top, left, flipped)
            for flipped in (False, True)
            for top in range(31)
            for left in range(31)
            if np.allclose(
                image, ((source[:, ::-1] if flipped else source) - mean)[top : top + 170, left : left + 170], atol=1e-6
            )
        ]
        assert found, "a training image is no 170x170 window of its 200-px face"
        offsets.append(found[0])
    # Random places: not all at the centre, not all the same.
    assert len({o[:2] for o in offsets}) > 1 and any(o[:2] != (15, 15) for o in offsets)


@pytest.mark.parametrize("name", ["drml-cpu-small", "convnet-cpu-small"])
def test_cpu_small_configs_train_on_the_centre_crop_unmirrored(arrays, name):
    """The cpu-small configs train without augmentation; the paper configs flip and crop at random."""
    config = resolve_config(name, [])
    assert not config.augmentation.active
    rows = np.arange(8)
    images = _training_batch(arrays, config.augmentation, rows)
    np.testing.assert_allclose(images, _normalised(arrays)[rows, 15:185, 15:185, :], atol=1e-6)
    paper = resolve_config(name.replace("-cpu-small", ""), []).augmentation
    assert paper.active and paper.flip and (paper.max_shift, paper.max_brightness, paper.max_contrast) == (0, 0.0, 0.0)


def test_config_grid_reaches_the_model_and_a_bad_one_is_refused_first(tmp_path):
    from aufera.errors import AuferaError
    from aufera.training.engine import compiled_stage_model

    model = compiled_stage_model(resolve_config("drml-cpu-small", ["model.grid=4"]), "drml", 100)
    assert model.get_layer("region2").grid == (4, 4) and model.get_layer("region2").cell_shape == (20, 20)
    convnet = compiled_stage_model(resolve_config("convnet-cpu-small", ["model.grid=7"]), "drml", 100)
    assert not any(isinstance(layer, RegionLayer) for layer in convnet.layers)  # no region layer, no grid to cut
    with pytest.raises(AuferaError, match="model.grid=7: DRML: the region layer's 80x80 map"):
        train(resolve_config("drml-cpu-small", ["model.grid=7"]), tmp_path / "no-data", tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def drml_run(dataset200, tmp_path_factory):
    """A drml-cpu-small run (XLA) killed after its first epoch, then resumed to the end."""
    run_dir = tmp_path_factory.mktemp("drml") / "run"
    config = resolve_config("drml-cpu-small", TINY)
    with pytest.raises(KeyboardInterrupt):
        train(config, dataset200, run_dir, progress=False, callbacks=[KillAfterFirstEpoch()])
    killed = json.loads((run_dir / "checkpoints" / "drml" / "state.json").read_text())
    summary = train(config, dataset200, run_dir, progress=False)
    return {"dir": run_dir, "config": config, "killed": killed, "summary": summary}


def test_a_drml_run_is_a_preset_that_centre_crops_its_faces(drml_run, arrays):
    """RUN_DIR/preset of a DRML run: uint8 200-px faces in, DRML on the centre 170 crop (numpy), no view output."""
    from aufera.pretrained import load_preset, write_run_preset

    assert write_run_preset(drml_run["dir"]) == drml_run["dir"] / "preset"  # as `aufera train` does at its end
    preset = load_preset(drml_run["dir"] / "preset")
    assert not preset.has_view and preset.crop_shape == (200, 200, 1)
    drml = keras.saving.load_model(drml_run["dir"] / "drml.keras", compile=False)
    expected = np.asarray(drml(_normalised(arrays)[:6, 15:185, 15:185])["au"])
    served = preset.serving_model()(arrays.image[:6])
    assert set(served) == {"au_present", "au_decision"}
    np.testing.assert_allclose(np.asarray(served["au_present"]), expected, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(served["au_decision"]), (expected > 0.5).astype(np.float32))


def test_drml_trains_resumes_and_keeps_its_best_epoch(drml_run, arrays):
    assert drml_run["killed"]["epochs_done"] == 1
    summary = drml_run["summary"]
    assert summary["stages"] == ["drml"] and summary["drml"]["epochs_done"] == 2
    assert summary["drml"]["epochs_run"] == 1  # the resumed run trained only the second epoch
    history = read_history(drml_run["dir"] / history_file("drml"))
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite(row["loss"]) and np.isfinite(row["val_loss"]) for row in history)

    # The saved model is the best epoch, and its validation F1 is recomputed here from its own predictions.
    model = keras.saving.load_model(drml_run["dir"] / model_file("drml"), safe_mode=True)
    assert isinstance(model, DRML) and model.region_layer
    assert any(isinstance(layer, RegionLayer) for layer in model.layers)
    rows = np.unique(np.linspace(0, len(arrays) - 1, 16).round().astype(np.int64))
    images = _normalised(arrays)[rows, 15:185, 15:185, :]
    present = model.predict(images, verbose=0)["au"]
    truth = arrays.au[rows]
    f1s = []
    for au in range(truth.shape[1]):
        known = truth[:, au] != 0
        f1s.append(f1_score(truth[known, au] > 0, present[known, au] > 0.5, zero_division=0))
    best = max(history, key=lambda row: row["val_mean_f1"])
    assert summary["drml"]["best_epoch"] == best["epoch"]
    assert np.mean(f1s) == pytest.approx(best["val_mean_f1"], abs=1e-6)


def test_convnet_config_trains_the_network_without_the_region_layer(dataset200, tmp_path):
    config = resolve_config("convnet-cpu-small", [*TINY, "epochs_drml=1", "runtime.jit_compile=false"])
    summary = train(config, dataset200, tmp_path / "run", progress=False)
    assert summary["drml"]["epochs_done"] == 1
    model = keras.saving.load_model(tmp_path / "run" / model_file("drml"), safe_mode=True)
    assert not model.region_layer and not any(isinstance(layer, RegionLayer) for layer in model.layers)
    assert model.count_params() == 586_282
