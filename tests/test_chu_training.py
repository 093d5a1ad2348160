"""Chu et al. 2019 through `aufera train` and `aufera evaluate`: CNN, PCA, LSTMs, fusion, the whole model, folds.

The data: a tiny corpus with time in it (2 + 1 subjects, 1 session of 24
frames, the frontal view only), prepared at 200 px. The checks are numbers
computed independently: the PCA refitted from the stored fc7 features, the
whole saved `CNNLSTM` against the stages' own validation scores, the fold
lists against a set computation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_harness import KillAfterFirstEpoch

from aufera.cli import main
from aufera.config import resolve_config
from aufera.filenames import CHU_FEATURES_FILE, CHU_PCA_FILE, FOLDS_FILE, history_file, model_file
from aufera.folds import read_folds
from aufera.models import fit_pca
from aufera.training import read_history, train

SEQUENCE_CORPUS = {"train_subjects": 2, "valid_subjects": 1, "tasks": 1, "frames": 24, "size": 96, "views": (5,)}
TINY = [
    "epochs_chu_cnn=1",
    "batch_size=8",
    "max_steps_per_epoch=3",
    "epochs_chu_lstm=2",
    "epochs_chu_fusion=2",
    "sequence.length=12",
    "sequence.burn_in=3",
    "sequence.per_video=2",
    "sequence.min_active_aus=none",
    "runtime.jit_compile=false",  # XLA's compilation would cost more than these few steps
]


@pytest.fixture(scope="module")
def sequences200(tmp_path_factory):
    """The tiny corpus with time in it, prepared at 200 px."""
    from aufera.data.prepare import prepare
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    root = tmp_path_factory.mktemp("chu_corpus")
    write_corpus(root, SynthConfig(**SEQUENCE_CORPUS), workers=1, progress=False)
    out = tmp_path_factory.mktemp("chu_data")
    return prepare(root, out, image_size=200, workers=1, progress=False)["dataset"]


@pytest.fixture(scope="module")
def chu_run(sequences200, tmp_path_factory):
    """A chu2019-cpu-small run: the CNN alone first, then the LSTMs killed after their first epoch, resumed."""
    run_dir = tmp_path_factory.mktemp("chu") / "run"
    cnn_only = train(resolve_config("chu2019-cpu-small", TINY + ["epochs_chu_lstm=0"]), sequences200, run_dir, False)
    config = resolve_config("chu2019-cpu-small", TINY)
    with pytest.raises(KeyboardInterrupt):
        train(config, sequences200, run_dir, progress=False, callbacks=[KillAfterFirstEpoch()])
    killed = json.loads((run_dir / "checkpoints" / "chu_lstm" / "state.json").read_text())
    lstm_file_after_kill = (run_dir / model_file("chu_lstm")).exists()
    summary = train(config, sequences200, run_dir, progress=False)
    return {
        "dir": run_dir,
        "cnn_only": cnn_only,
        "killed": killed,
        "lstm_file_after_kill": lstm_file_after_kill,
        "summary": summary,
    }


def test_the_cnn_alone_then_the_temporal_stages_resume_after_a_kill(chu_run):
    assert chu_run["cnn_only"]["stages"] == ["chu_cnn", "chu_lstm", "chu_fusion"]
    assert "chu_lstm" not in chu_run["cnn_only"] and chu_run["cnn_only"]["chu_cnn"]["epochs_done"] == 1
    assert chu_run["killed"]["epochs_done"] == 1 and not chu_run["lstm_file_after_kill"]
    summary = chu_run["summary"]
    assert summary["chu_cnn"]["skipped"] is True
    assert summary["chu_lstm"]["epochs_done"] == 2 and summary["chu_lstm"]["epochs_run"] == 1
    assert summary["chu_fusion"]["epochs_done"] == 2 and summary["chu_fusion"]["epochs_run"] == 2
    for stage in ("chu_cnn", "chu_lstm", "chu_fusion", "cnn_lstm"):
        assert (chu_run["dir"] / model_file(stage)).is_file()
    history = read_history(chu_run["dir"] / history_file("chu_lstm"))
    assert [row["epoch"] for row in history] == [1, 2]
    # RMSProp's rate decays by 0.97 per epoch.
    assert history[1]["learning_rate"] == pytest.approx(1e-2 * 0.97, rel=1e-5)  # cpu-small: 1e-2


def test_the_pca_is_fitted_on_the_training_features_only(chu_run, sequences200):
    from aufera.data.pipeline import load_split_arrays

    with np.load(chu_run["dir"] / CHU_FEATURES_FILE) as stored:
        train_fc7, val_fc7 = stored["train_fc7"], stored["val_fc7"]
    assert len(train_fc7) == len(load_split_arrays(sequences200, "train"))
    assert len(val_fc7) == len(load_split_arrays(sequences200, "validation"))
    np.testing.assert_allclose(np.linalg.norm(train_fc7, axis=1), 1.0, atol=1e-5)  # L2-normalised fc7
    expected = fit_pca(train_fc7, energy=0.98)
    with np.load(chu_run["dir"] / CHU_PCA_FILE) as stored:
        assert int(stored["num_components"]) == expected["num_components"]
        np.testing.assert_allclose(stored["mean"], train_fc7.mean(0), atol=1e-6)
        assert float(stored["energy"]) >= 0.98
    assert chu_run["summary"]["pca"]["num_components"] == expected["num_components"]


def test_the_whole_saved_model_gives_the_stages_validation_scores(chu_run, capsys):
    """`aufera evaluate` runs the saved CNNLSTM on whole videos: its F1s equal those the stages validated with."""
    status = main(["evaluate", "--run", str(chu_run["dir"])])
    out = capsys.readouterr().out
    assert status == 0 and "CNN vs LSTM vs CNN+LSTM" in out
    metrics = json.loads((chu_run["dir"] / "metrics.json").read_text())["chu2019"]
    for model, stage in (("cnn", "chu_cnn"), ("lstm", "chu_lstm"), ("fusion", "chu_fusion")):
        best = chu_run["summary"][stage]["val_mean_f1"]
        assert metrics[model]["f1"]["mean"] == pytest.approx(best, abs=1e-6), model
        for key in ("f1_event", "f1_event_auc", "auc"):
            assert set(metrics[model][key]) >= {"AU1", "AU23", "mean"}
    assert (chu_run["dir"] / "table_chu.md").read_text().startswith("# Chu et al. 2019")


def test_folds_train_on_one_fold_and_evaluate_on_its_test_subjects(sequences200, tmp_path):
    from aufera.evaluation.chu import evaluate_chu_run

    run_dir = tmp_path / "fold"
    config = resolve_config("chu2019-cpu-small", TINY + ["epochs_chu_lstm=0", "folds=3", "fold=1"])
    train(config, sequences200, run_dir, progress=False)
    folds = read_folds(run_dir / FOLDS_FILE)
    assert len(folds) == 3
    everyone = {"F001", "F002", "F003"} | {"M001", "M002", "M003"}
    tested = []
    for fold in folds:
        parts = [set(fold.train), set(fold.validation), set(fold.test)]
        assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1 :])
        assert len(fold.test) == 1 and len(fold.validation) == 1 and len(fold.train) == 1
        tested += fold.test
    assert len(tested) == len(set(tested)) == 3 and set(tested) <= everyone
    metrics = evaluate_chu_run(run_dir)
    assert metrics["split"] == "fold 1 of 3 (test subjects)" and set(metrics["chu2019"]) == {"cnn"}
    assert metrics["frames"] == 24  # one subject, one session of 24 frames, one view


@pytest.mark.parametrize(
    "override, message",
    [
        ("sequence.burn_in=12", "sequence.burn_in=12: sequences of 12 frames (video"),
        ("sequence.pca_components=500", "sequence.pca_components=500: a PCA of 48 training frames"),
        ("folds=4", "folds=4: k=4: a subject-exclusive 4-fold split needs at least 4 subjects; there are 3"),
    ],
)
def test_bad_sequence_settings_are_one_line_exit_2_and_write_nothing(sequences200, tmp_path, capsys, override, message):
    out = tmp_path / "run"
    argv = ["train", "--config", "chu2019-cpu-small", "--data", str(sequences200), "--out", str(out), *TINY, override]
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert message in err[0]
    assert not out.exists()


# === The run as a preset: the CNN-LSTM on new videos ===


def _video_with_a_gap(path, fps: float = 10.0):
    """16 frames of a real face photograph swaying, frames 7-10 a grey screen (no face)."""
    from aufera.synth.clips import write_photo_clip

    return write_photo_clip(path, 16, size=(320, 320), fps=fps, face_side=240, absent=(6, 10), period=2.0)


def test_a_cnn_lstm_run_is_a_sequence_preset_that_predicts_whole_videos(chu_run, tmp_path, capsys):
    """The preset's video route (CNN in batches, the LSTMs over the whole video, gaps masked) equals CNNLSTM.call."""
    from aufera.data.faces import crop_face, video_faces
    from aufera.data.video import read_frames
    from aufera.errors import AuferaError
    from aufera.predict import AU_NAMES, AUDetector, table_columns
    from aufera.pretrained import load_preset, write_run_preset

    assert write_run_preset(chu_run["dir"]) == chu_run["dir"] / "preset"
    preset = load_preset(chu_run["dir"] / "preset")
    assert preset.is_sequence and not preset.has_view and preset.crop_shape == (200, 200, 1)
    detector = AUDetector(preset, batch_size=5, detect_every=4)
    video = _video_with_a_gap(tmp_path / "gap.mp4")
    table = detector.predict_video(video)
    assert list(table) == list(table_columns(False))
    np.testing.assert_array_equal(table["success"], np.r_[np.ones(6), np.zeros(4), np.ones(6)])

    faces = video_faces(video, detector.face_detector, detector.face_config)
    crops = np.stack(
        [
            crop_face(frame, faces.boxes[i], size=200, margin=detector.face_config.margin)
            if faces.kept[i]
            else np.zeros((200, 200, 1), np.uint8)
            for i, frame in enumerate(read_frames(video))
        ]
    )
    mean = preset.mean_image
    x = ((crops.astype(np.float32) - mean) / np.float32(255.0))[:, 12:188, 12:188]  # the centre 176 crop, by hand
    whole = np.asarray(preset.model(x[None], present=faces.kept[None])["au"])[0]
    kept = faces.kept
    ours = np.stack([table[f"{name}_p"] for name in AU_NAMES], 1)
    np.testing.assert_allclose(ours[kept], whole[kept], atol=1e-5)
    np.testing.assert_array_equal(np.stack([table[f"{n}_c"] for n in AU_NAMES], 1)[kept], whole[kept] > 0.5)
    assert np.isnan(ours[~kept]).all()

    # Its spatial CNN, trained, through the model class.
    from aufera.models import ChuCNN

    cnn = ChuCNN.from_preset(str(chu_run["dir"] / "preset"))
    for a, b in zip(cnn.get_weights(), preset.model.cnn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # One image: a sequence of one frame.
    one = np.asarray(preset.model(x[:1][None])["au"])[0, 0]
    np.testing.assert_allclose(detector.score_crops(crops[:1])["au_present"][0], one, atol=1e-5)
    # No per-frame serving model, so no SavedModel: one line.
    with pytest.raises(AuferaError, match="scores whole sequences"):
        preset.serving_model()
    assert (
        main(
            [
                "export",
                "--model",
                str(chu_run["dir"] / "preset"),
                "--format",
                "savedmodel",
                "--out",
                str(tmp_path / "export"),
            ]
        )
        == 2
    )
    assert "scores whole sequences" in capsys.readouterr().err
