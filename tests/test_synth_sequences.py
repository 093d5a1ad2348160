"""A corpus with time in it: a subset of the views (`SynthConfig.views`, `--views`) and AU episodes of
FERA-like length (`aufera.reproduce.CHU_SYNTH`, the setting of the CNN-LSTM of Chu et al.)."""

import json
import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest

from aufera.au import FERA2017_TRAIN_BASE_RATES
from aufera.data.fera2017 import find_sessions, iter_frames
from aufera.reproduce import CHU_SYNTH, chu_corpus_config
from aufera.synth import episodes
from aufera.synth.config import SynthConfig
from aufera.synth.writer import plan, write_corpus

# === The views field ===


def test_views_default_to_all_nine_and_stay_out_of_the_manifest():
    config = SynthConfig()
    assert config.views is None and config.view_numbers == tuple(range(1, 10))
    # Leaving None out keeps a default corpus's manifest as it was (resuming compares it).
    assert "views" not in config.to_dict()


def test_views_are_kept_sorted_and_round_trip():
    config = SynthConfig(views=[8, 2, 5])
    assert config.views == (2, 5, 8) and config.view_numbers == (2, 5, 8)
    assert config.to_dict()["views"] == [2, 5, 8]
    assert SynthConfig(**json.loads(json.dumps(config.to_dict()))) == config
    assert SynthConfig(views=np.array([9, 1])).views == (1, 9)


@pytest.mark.parametrize("views", [(), [], (0,), (10,), (2, 2), (2, 5, 5), ("2",), "258", 5, (True,), (2.0,), (-1, 3)])
def test_bad_views_are_refused_in_one_line(views):
    with pytest.raises(ValueError) as info:
        SynthConfig(views=views)
    message = str(info.value)
    assert message.startswith("views must be distinct view numbers from 1 to 9") and "\n" not in message
    shown = tuple(views) if isinstance(views, list) else views  # a list is taken as a tuple
    assert f"Received: views={shown!r}" in message


# === A corpus with only some views ===


@pytest.fixture(scope="module")
def two_view_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_views")
    config = SynthConfig(train_subjects=1, valid_subjects=1, tasks=1, frames=6, size=64, views=(6, 4), seed=5)
    result = write_corpus(root, config, workers=1, progress=False)
    return root, config, result


def test_only_the_chosen_views_have_videos(two_view_corpus):
    root, _, result = two_view_corpus
    videos = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    assert videos == [
        "FERA17_Train_MV/FERA17_TR_F001_T1_4.mp4",
        "FERA17_Train_MV/FERA17_TR_F001_T1_6.mp4",
        "FERA17_Valid_MV/FERA17_VA_M001_T1_4.mp4",
        "FERA17_Valid_MV/FERA17_VA_M001_T1_6.mp4",
    ]
    labels = sorted(p.name for p in root.rglob("*.csv"))
    assert labels == ["FERA17_TR_F001_T1.csv", "FERA17_VA_M001_T1.csv"]
    manifest = json.loads((root / "groundtruth" / "corpus.json").read_text())
    assert manifest["config"]["views"] == [4, 6]
    assert manifest["views"] == [{"number": 4, "yaw": -40.0, "pitch": 0.0}, {"number": 6, "yaw": 40.0, "pitch": 0.0}]
    assert result["sessions"] == 2 and result["written"] == 2


def test_ground_truth_of_views_not_written_is_nan(two_view_corpus):
    root, _, _ = two_view_corpus
    truth = np.load(root / "groundtruth" / "FERA17_TR_F001_T1.npz")
    assert truth["views"].tolist() == [4, 6]
    assert truth["face_box"].shape == (9, 6, 4) and truth["pose"].shape == (9, 6, 3)
    written = np.isfinite(truth["face_box"]).all(axis=(1, 2))
    assert written.tolist() == [n in (4, 6) for n in range(1, 10)]
    assert np.isnan(truth["keypoints"][[0, 1, 2, 4, 6, 7, 8]]).all()
    np.testing.assert_allclose(truth["pose"][[3, 5], :, 0].mean(1), [-40, 40], atol=8)


def test_reader_reads_the_views_present(two_view_corpus):
    root, _, _ = two_view_corpus
    sessions, problems = find_sessions(root)
    assert [(s.name, s.views, len(s.labels)) for s in sessions] == [
        ("FERA17_TR_F001_T1", (4, 6), 6),
        ("FERA17_VA_M001_T1", (4, 6), 6),
    ]
    # The corpus declares its views (groundtruth/corpus.json): the 7 it was written without are not missing.
    assert problems == []
    frames = list(iter_frames(sessions[0], 6, problems))
    assert len(frames) == 6 and frames[0][1].shape == (64, 64, 3)


def test_a_declared_view_that_is_absent_is_reported(two_view_corpus, tmp_path):
    import shutil

    root, _, _ = two_view_corpus
    copy = tmp_path / "corpus"
    shutil.copytree(root, copy)
    next(copy.rglob("FERA17_TR_F001_T1_6.mp4")).unlink()
    _, problems = find_sessions(copy)
    assert [(p.kind, p.path.name) for p in problems] == [("missing_view", "FERA17_TR_F001_T1_6.mp4")]
    # Without the manifest, FERA 2017's 9 views are expected: each absent one is reported, never an error.
    (copy / "groundtruth" / "corpus.json").unlink()
    _, problems = find_sessions(copy)
    assert {p.kind for p in problems} == {"missing_view"} and len(problems) == 8 + 7


def test_rerun_writes_nothing(two_view_corpus):
    root, config, _ = two_view_corpus
    assert write_corpus(root, config, workers=1, progress=False)["written"] == 0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aufera.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "value, message",
    [
        ("0,3", "argument --views: expected distinct view numbers from 1 to 9, comma-separated, got '0,3'"),
        ("2,2", "argument --views: expected distinct view numbers from 1 to 9, comma-separated, got '2,2'"),
    ],
)
def test_cli_bad_views_give_one_error_line(tmp_path, value, message):
    result = _cli("synth", str(tmp_path / "out"), f"--views={value}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_views_parser():
    import argparse

    from aufera.commands.synth import view_numbers

    assert view_numbers("8,2, 5") == (2, 5, 8)
    assert view_numbers("all") is None
    for bad in ("", "1,,2", "x", "1.5", "12"):
        with pytest.raises(argparse.ArgumentTypeError):
            view_numbers(bad)


# === Episode durations ===


def test_episode_durations_of_a_hand_made_session():
    occurrence = -np.ones((10, 10), np.int8)
    occurrence[0:3, 0] = 1  # cut by the start
    occurrence[5:7, 0] = 1
    occurrence[8:10, 0] = 1  # cut by the end
    occurrence[2:9, 1] = 1
    occurrence[:, 2] = 1
    durations = episodes.episode_durations(occurrence)
    assert durations[0].tolist() == [3, 2, 2] and durations[1].tolist() == [7] and durations[2].tolist() == [10]
    assert all(d.size == 0 for d in durations[3:])
    complete = episodes.episode_durations(occurrence, complete=True)
    assert complete[0].tolist() == [2] and complete[1].tolist() == [7] and complete[2].tolist() == []
    with pytest.raises(ValueError, match="occurrence must be"):
        episodes.episode_durations(np.ones((5, 3)))


def test_chu_setting_is_small_in_frames_with_long_sessions():
    config = chu_corpus_config(seed=4)
    assert config.seed == 4 and config.views == CHU_SYNTH["views"] == (2, 5, 8)
    sessions = (config.train_subjects + config.valid_subjects) * config.tasks
    total = sessions * config.frames * len(config.view_numbers)
    assert total == 12_600 and config.frames == 300


def test_chu_episodes_last_one_to_three_seconds():
    # The planned labels of 5 CHU_SYNTH corpora (70 sessions of 300 frames); no rendering.
    durations, complete = [], []
    for seed in range(5):
        _, sessions, _ = plan(chu_corpus_config(seed))
        for session in sessions:
            durations += episodes.episode_durations(session.occurrence)
            complete += episodes.episode_durations(session.occurrence, complete=True)
    durations, complete = np.concatenate(durations), np.concatenate(complete)
    q25, median, q75 = np.percentile(durations, [25, 50, 75])
    smoothness = CHU_SYNTH["smoothness"]
    # docs/data.md: median 39 frames (2.5 x smoothness), quartiles 22 and 65 (20 seeds); at 25 fps 0.9-2.6 s.
    assert 25 <= median <= 75
    assert 2.2 * smoothness <= median <= 2.8 * smoothness
    assert 1.2 * smoothness <= q25 <= 1.8 * smoothness and 3.6 * smoothness <= q75 <= 4.6 * smoothness
    assert 2.2 * smoothness <= np.median(complete) <= 2.8 * smoothness
    # About 2.3 episodes per AU and session.
    assert 1.9 <= len(durations) / (70 * 10) <= 2.7


def test_mean_episode_follows_rice_formula():
    # The episodes module's docstring: mean duration 2 pi sqrt(2) p exp(u^2 / 2) sigma for base rate p.
    sigma = 16.0
    rng = np.random.default_rng(0)
    latents = [episodes.au_latents(rng, 100_000, sigma) for _ in range(2)]
    thr = episodes.thresholds(np.concatenate(latents), FERA2017_TRAIN_BASE_RATES, 1.0)
    per_au = [[] for _ in FERA2017_TRAIN_BASE_RATES]
    for z in latents:
        occurrence = episodes.occurrence(episodes.intensity_levels(z, thr), 1.0)
        for k, d in enumerate(episodes.episode_durations(occurrence, complete=True)):
            per_au[k].append(d)
    for p, runs in zip(FERA2017_TRAIN_BASE_RATES, per_au, strict=True):
        u = NormalDist().inv_cdf(1 - p)
        rice = 2 * np.pi * np.sqrt(2) * p * np.exp(u**2 / 2) * sigma
        assert abs(np.concatenate(runs).mean() / rice - 1) < 0.06, p
