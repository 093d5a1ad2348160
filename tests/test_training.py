"""Tests of aufera.config and aufera.training on a tiny synthetic dataset (72 training, 36 validation frames)."""

from __future__ import annotations

import argparse
import json
import math

import keras
import numpy as np
import pytest
from model_harness import KillAfterFirstEpoch

from aufera.commands import train as train_command
from aufera.config import TRAIN_PRESETS, TrainConfig, load_config, resolve_config, save_config
from aufera.errors import AuferaError
from aufera.metrics import f1_per_au, view_accuracy
from aufera.models import decision_fusion
from aufera.training import learning_rate, plan_epoch, read_history, steps_per_epoch, train

TINY = ["batch_size=8", "max_steps_per_epoch=2", "epochs_network1=2", "epochs_network2=1", "validation.batch_size=36"]
RUN_FILES = {"config.yaml", "network1.keras", "network2.keras", "history_network1.csv", "history_network2.csv"}


# === Config ===


def test_resolve_config_from_presets():
    paper = resolve_config("paper")
    assert paper.model.preset == "paper" and paper.preset == "paper"
    optimizer = paper.optimizer
    assert (optimizer.learning_rate, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (1e-3, 0.9, 0.999, 1e-8)
    assert optimizer.lr_schedule == "constant"
    assert (paper.model.lambda_au, paper.model.lambda_view) == (0.5, 0.5)
    assert paper.batch_size == TRAIN_PRESETS["paper"]["batch_size"] == 64
    assert not paper.augmentation.active  # the paper mentions no augmentation
    small = resolve_config("cpu-small")
    # One default per field: the cpu-small preset is the dataclass defaults, and changes nothing.
    assert small == TrainConfig() and TRAIN_PRESETS["cpu-small"] == {}
    assert (small.augmentation.max_shift, small.augmentation.max_brightness, small.augmentation.max_contrast) == (
        6,
        0.15,
        0.4,
    )
    # The paper preset differs from the defaults exactly where it says it does.
    changed = {k for k, v in paper.to_flat_dict().items() if small.to_flat_dict()[k] != v}
    assert changed == {
        "preset",
        "model.preset",
        "batch_size",
        "epochs_network1",
        "optimizer.lr_schedule",
        "augmentation.max_shift",
        "augmentation.max_brightness",
        "augmentation.max_contrast",
        "validation.batch_size",
    }
    with pytest.raises(ValueError, match="Not a training preset"):
        resolve_config("nope")


def test_resolve_config_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("preset: paper\nbatch_size: 32\noptimizer:\n  learning_rate: 1e-4\naugmentation:\n  max_shift: 3\n")
    config = resolve_config(
        str(path), ["epochs_network1=3", "augmentation.max_shift=0", "max_steps_per_epoch=5", "optimizer.beta_1=0.8"]
    )
    assert config.model.preset == "paper" and config.epochs_network2 == resolve_config("paper").epochs_network2
    assert config.batch_size == 32 and isinstance(config.batch_size, int)
    lr = config.optimizer.learning_rate
    assert lr == pytest.approx(1e-4) and isinstance(lr, float)
    assert config.epochs_network1 == 3 and config.augmentation.max_shift == 0
    assert config.optimizer.lr_schedule == "constant"  # the rest of the section still comes from the preset
    assert config.max_steps_per_epoch == 5 and config.optimizer.beta_1 == 0.8
    with pytest.raises(ValueError, match="did you mean optimizer.learning_rate"):
        resolve_config("cpu-small", ["learning_rate=1e-4"])
    with pytest.raises(ValueError, match="optimizer is a section"):
        resolve_config("cpu-small", ["optimizer=adam"])
    assert resolve_config("cpu-small", ["max_steps_per_epoch=none"]).max_steps_per_epoch is None
    with pytest.raises(ValueError, match="'no_such_key'"):
        resolve_config("cpu-small", ["no_such_key=1"])
    with pytest.raises(ValueError, match="batch_size"):
        resolve_config("cpu-small", ["batch_size=many"])
    with pytest.raises(ValueError, match="sampler"):
        resolve_config("cpu-small", ["sampler=greedy"])
    path.write_text("bogus: 1\n")
    with pytest.raises(ValueError, match="'bogus'"):
        resolve_config(str(path))
    save_config(config, tmp_path / "run")
    assert load_config(tmp_path / "run") == config


def test_learning_rate_is_constant_or_a_cosine_over_the_stage():
    paper = resolve_config("paper")
    assert learning_rate(paper, 10, 1000) == 1e-3  # the paper: Adam's alpha stays 1e-3
    small = resolve_config("cpu-small", ["batch_size=32"])
    assert steps_per_epoch(small, 1000) == 32  # ceil(1000 / 32)
    schedule = learning_rate(small, 3, 1000)
    total = 3 * 32
    for step in (0, 10, total // 2, total - 1, total):
        expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    capped = resolve_config("cpu-small", ["batch_size=32", "max_steps_per_epoch=5"])
    assert steps_per_epoch(capped, 1000) == 5 and learning_rate(capped, 3, 1000).decay_steps == 15
    with pytest.raises(ValueError, match="lr_schedule"):
        resolve_config("cpu-small", ["optimizer.lr_schedule=step"])
    with pytest.raises(ValueError, match="max_contrast"):
        resolve_config("cpu-small", ["augmentation.max_contrast=1.0"])


# === Data and the trained run ===


@pytest.fixture(scope="module")
def dataset(tiny_dataset):
    """The session's tiny prepared dataset (tests/conftest.py): 72 training and 36 validation frames."""
    return tiny_dataset


class CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append((self.model.__class__.__name__, epoch))


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    """A run killed after Network1's first epoch, then resumed to the end."""
    run_dir = tmp_path_factory.mktemp("run") / "r"
    config = resolve_config("cpu-small", TINY)
    with pytest.raises(KeyboardInterrupt):
        train(config, dataset, run_dir, progress=False, callbacks=[KillAfterFirstEpoch()])
    killed = {
        "state": json.loads((run_dir / "checkpoints" / "network1" / "state.json").read_text()),
        "files": {p.name for p in run_dir.iterdir()},
    }
    counter = CountEpochs()
    summary = train(config, dataset, run_dir, progress=False, callbacks=[counter])
    return {
        "dir": run_dir,
        "data": str(dataset),
        "config": config,
        "killed": killed,
        "summary": summary,
        "epochs": counter.epochs,
    }


def test_resume_runs_only_the_remaining_epochs(run):
    assert run["killed"]["state"]["epochs_done"] == 1
    assert "network1.keras" not in run["killed"]["files"]
    assert run["epochs"] == [("Network1", 1), ("Network2", 0)]
    summary = run["summary"]
    assert summary["network1"]["epochs_run"] == 1 and summary["network1"]["epochs_done"] == 2
    assert summary["network2"]["epochs_run"] == 1
    assert [row["epoch"] for row in read_history(run["dir"] / "history_network1.csv")] == [1, 2]
    assert RUN_FILES <= {p.name for p in run["dir"].iterdir()}
    for name in ("logs", "checkpoints"):
        assert (run["dir"] / name).is_dir()
    assert load_config(run["dir"]).data_dir is not None
    # A finished run is not retrained.
    again = train(run["config"], run["data"], run["dir"], progress=False)
    assert again["network1"]["skipped"] and again["network2"]["skipped"]
    assert again["network1"]["epochs_run"] == again["network2"]["epochs_run"] == 0
    assert again["network1"]["val_mean_f1"] == summary["network1"]["val_mean_f1"]


def test_the_resumed_run_continues_the_cosine_schedule(run):
    # The checkpoint of the last epoch holds the optimizer: after the kill and
    # the resume, its step count and learning rate are those of an unbroken run.
    config = run["config"]
    ckpt = run["dir"] / "checkpoints" / "network1"
    state = json.loads((ckpt / "state.json").read_text())
    model = keras.saving.load_model(ckpt / state["last"], compile=True)
    steps = config.epochs_network1 * config.max_steps_per_epoch
    assert int(model.optimizer.iterations.numpy()) == steps
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0, abs=1e-9)  # decayed to the end


def _validation(data_dir):
    from aufera.data.pipeline import dataset_from_arrays, load_split_arrays

    arrays = load_split_arrays(data_dir, "validation")
    return arrays, {
        stage: dataset_from_arrays(arrays, None, 36, training=False, targets=stage)
        for stage in ("network1", "network2")
    }


def test_logged_best_scores_match_the_saved_models(run):
    arrays, data = _validation(run["data"])
    for stage in ("network1", "network2"):
        model = keras.saving.load_model(run["dir"] / f"{stage}.keras")
        outputs = model.predict(data[stage], verbose=0)
        f1 = float(np.mean(f1_per_au(arrays.au, decision_fusion([outputs["au"]]))))
        rows = read_history(run["dir"] / f"history_{stage}.csv")
        best = max(rows, key=lambda r: r["val_mean_f1"])
        assert best["epoch"] == run["summary"][stage]["best_epoch"]
        np.testing.assert_allclose(best["val_mean_f1"], f1, atol=1e-6)
        assert 0.0 <= f1 <= 1.0 and math.isfinite(best["loss"]) and best["seconds"] > 0
        if stage == "network1":
            acc = view_accuracy(arrays.view, outputs["view"])
            np.testing.assert_allclose(best["val_view_accuracy"], acc, atol=1e-6)
            np.testing.assert_allclose(best["loss"], 0.5 * best["au_loss"] + 0.5 * best["view_loss"], rtol=1e-5)


def test_network2_has_the_frozen_backbone_of_network1(run):
    network1 = keras.saving.load_model(run["dir"] / "network1.keras")
    network2 = keras.saving.load_model(run["dir"] / "network2.keras")
    assert not network2.backbone.trainable
    assert not any(w.trainable for w in network2.backbone.weights)
    for a, b in zip(network1.backbone.get_weights(), network2.backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    trainable = {v.path.split("/")[0] for v in network2.trainable_variables}
    assert trainable and not any("backbone" in name for name in trainable)


def test_train_writes_the_run_as_a_preset_with_weights(run, capsys):
    """`aufera train` leaves RUN_DIR/preset: Network1 + Network2 fused, their trained weights, the dataset's mean."""
    from aufera.data.pipeline import load_dataset_info
    from aufera.models import Network1, Network2
    from aufera.pretrained import load_preset

    run_dir = run["dir"]
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--config", "cpu-small", "--data", run["data"], "--out", str(run_dir), *TINY])
    assert args.run(args) == 0  # the run is complete: it prints its summary and writes the preset
    assert f"preset with weights: {run_dir / 'preset'}" in capsys.readouterr().out
    preset = load_preset(run_dir / "preset")
    np.testing.assert_array_equal(preset.mean_image, load_dataset_info(run["data"]).mean)
    for cls, name in ((Network1, "network1"), (Network2, "network2")):
        saved = keras.saving.load_model(run_dir / f"{name}.keras", compile=False)
        for a, b in zip(preset.component(cls).get_weights(), saved.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_sampler_changes_the_batches(run):
    from aufera.data.pipeline import load_split_arrays

    labels = load_split_arrays(run["data"], "train").au
    plans = {s: plan_epoch(resolve_config("cpu-small", [*TINY, f"sampler={s}"]), labels, 0) for s in ("random", "momu")}
    plans["stratified"] = plan_epoch(resolve_config("cpu-small", [*TINY, "sampler=stratified"]), labels, 0)
    assert all(len(plan) == 2 and len(plan[0]) == 8 for plan in plans.values())
    assert not np.array_equal(plans["random"][0], plans["momu"][0])
    assert not np.array_equal(plans["random"][0], plans["stratified"][0])
    counts = (labels == 1).sum(axis=0)
    rarest = int(np.argmin(np.where(counts > 0, counts, 10**9)))
    first_chunk = plans["momu"][0][: max(1, 8 // 8)]
    assert np.all(labels[first_chunk, rarest] == 1)
    # Another epoch gets another plan (seed + epoch).
    assert not np.array_equal(plan_epoch(run["config"], labels, 1)[0], plan_epoch(run["config"], labels, 0)[0])


def test_nan_loss_stops_with_a_clear_error(dataset, tmp_path):
    config = resolve_config("cpu-small", [*TINY, "optimizer.learning_rate=1e30", "epochs_network1=2"])
    with pytest.raises(AuferaError, match=r"network1: .*NaN.* epoch [12]"):
        train(config, dataset, tmp_path / "nan", progress=False)
    assert not (tmp_path / "nan" / "network1.keras").exists()


class PoisonAt(keras.callbacks.Callback):
    """Sets the first weight to NaN just before step `step` (1-based) of epoch `epoch`: that step's loss is NaN."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at, self.epoch = (epoch, step), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            weight = self.model.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))


def test_a_nan_loss_names_its_step_and_keeps_the_last_good_epoch(dataset, tmp_path):
    # 3 steps an epoch; the loss turns NaN at step 2 of epoch 2, i.e. step 5 of the stage.
    config = resolve_config("cpu-small", [*TINY, "max_steps_per_epoch=3", "epochs_network1=3"])
    run_dir = tmp_path / "nan"
    with pytest.raises(AuferaError) as error:
        train(config, dataset, run_dir, progress=False, callbacks=[PoisonAt(2, 2)])
    message = str(error.value)
    assert "\n" not in message
    assert "network1: the loss became NaN or infinite at step 2 of epoch 2 (step 5 of the stage)" in message
    assert "keeps epoch 1's checkpoint" in message
    ckpt = run_dir / "checkpoints" / "network1"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["last"] == "epoch_0001.keras"
    weights = keras.saving.load_model(ckpt / state["last"], compile=False).get_weights()
    assert all(np.all(np.isfinite(w)) for w in weights)
    assert len(read_history(run_dir / "history_network1.csv")) == 1
    assert not (run_dir / "network1.keras").exists()


def test_cli_prints_the_summary_and_reports_bad_input(run, capsys):
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--config", "cpu-small", "--data", run["data"], "--out", str(run["dir"]), *TINY])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "network1: best epoch" in out and "network2: best epoch" in out and "validation mean F1" in out
    bad = parser.parse_args(["train", "--config", "cpu-small", "--data", "x", "--out", "y", "nokey=1"])
    with pytest.raises(AuferaError, match="nokey"):
        train_command.run(bad)
    other = parser.parse_args(
        ["train", "--config", "cpu-small", "--data", run["data"], "--out", str(run["dir"]), "--sampler", "momu"]
    )
    with pytest.raises(AuferaError, match="other settings"):
        train_command.run(other)


def test_a_dataset_of_another_size_than_the_preset_is_refused_in_one_line(dataset, tmp_path):
    # The tiny dataset holds 132-px crops; a preset made for 170-px crops must not reach Keras.
    from aufera.models import presets

    config = resolve_config("cpu-small", TINY)
    original = presets.PRESETS["cpu-small"]["preprocessing"]["image_size"]
    presets.PRESETS["cpu-small"]["preprocessing"]["image_size"] = 170
    try:
        with pytest.raises(AuferaError) as error:
            train(config, dataset, tmp_path / "mismatch", progress=False)
    finally:
        presets.PRESETS["cpu-small"]["preprocessing"]["image_size"] = original
    message = str(error.value)
    assert "\n" not in message
    assert "132x132x1" in message and "170x170x1" in message and "'cpu-small'" in message and str(dataset) in message
    assert not (tmp_path / "mismatch").exists()


def test_every_saved_model_of_a_run_loads_in_a_fresh_process_that_imports_only_aufera_models(run, tmp_path):
    # A user's program: `import keras, aufera.models`, then load what `aufera train` wrote (compiled, safe mode).
    import subprocess
    import sys

    files = sorted(str(p) for p in run["dir"].rglob("*.keras"))
    assert len(files) >= 4  # network1, network2 and the last checkpoint of each stage
    images = np.random.default_rng(0).normal(size=(2, 132, 132, 1)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    code = (
        "import sys, numpy as np, keras, aufera.models\n"
        "images = np.load(sys.argv[1])\n"
        "for i, path in enumerate(sys.argv[3:]):\n"
        "    model = keras.saving.load_model(path)\n"
        "    assert model.loss is not None and model.optimizer is not None, path\n"
        "    np.savez(f'{sys.argv[2]}/out_{i}.npz', **{k: np.asarray(v) for k, v in model(images).items()})\n"
        "print(sorted(m for m in sys.modules if m.startswith('aufera.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "images.npy"), str(tmp_path), *files],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "aufera.training" not in result.stdout and "aufera.evaluation" not in result.stdout
    for i, path in enumerate(files):
        expected = keras.saving.load_model(path)(images)
        got = np.load(tmp_path / f"out_{i}.npz")
        assert set(got.files) == set(expected)
        for key in expected:
            np.testing.assert_allclose(got[key], np.asarray(expected[key]), atol=1e-6, err_msg=f"{path} {key}")


def test_evaluate_puts_its_metrics_in_the_run_preset_card(run, capsys):
    """`aufera evaluate` on the run's own validation split rewrites RUN_DIR/preset with the metrics it measured."""
    from aufera.commands import evaluate as evaluate_command
    from aufera.pretrained import check_preset_files, write_run_preset

    run_dir = run["dir"]
    write_run_preset(run_dir)
    assert check_preset_files(run_dir / "preset")["metrics"] is None  # not evaluated yet
    parser = argparse.ArgumentParser()
    evaluate_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--run", str(run_dir)])
    assert args.run(args) == 0
    assert "its card now has these metrics" in capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    card = check_preset_files(run_dir / "preset")["metrics"]
    assert card["models"]["fusion"]["f1"] == metrics["fusion"]["f1"]["mean"]
    assert card["view_accuracy"] == metrics["network1"]["view_accuracy"]
    assert f"{metrics['fusion']['f1']['mean']:.3f}" in (run_dir / "preset" / "README.md").read_text()
