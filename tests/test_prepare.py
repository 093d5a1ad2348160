"""`aufera prepare`: the synthetic corpus -> the TFDS dataset of face crops."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from aufera.data import prepare as prep
from aufera.data.faces import FaceCache, FaceConfig, box_iou
from aufera.filenames import MEAN_FILE, PREPARE_REPORT_JSON, PREPARE_REPORT_MD
from aufera.synth.config import SynthConfig
from aufera.synth.writer import write_corpus

FRAMES = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(
        root,
        SynthConfig(train_subjects=1, valid_subjects=1, tasks=1, frames=FRAMES, unknown_rate=0.2, seed=4),
        workers=1,
        progress=False,
    )
    return root


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    report = prep.prepare(corpus, out, workers=2, progress=False)
    return corpus, out, report


def _records(path, split):
    builder = tfds.builder_from_directory(path)
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def test_dataset_opens_with_the_contract_features(prepared):
    _, _, report = prepared
    builder = tfds.builder_from_directory(report["dataset"])
    assert set(builder.info.splits) == {"train", "validation"}
    features = builder.info.features
    assert features["image"].shape == (132, 132, 1) and features["image"].dtype == np.uint8
    assert features["au"].shape == (10,) and features["au"].dtype == np.int8
    assert features["view"].num_classes == 9
    assert features["frame"].dtype == np.int64


def test_records_match_the_label_files_and_ground_truth(prepared):
    corpus, _, report = prepared
    for split, code in (("train", "TR"), ("validation", "VA")):
        records = _records(report["dataset"], split)
        assert len(records) == 9 * FRAMES - report["dropped_frames"]["no_face"].get(split, 0)
        assert {int(r["view"]) for r in records} == set(range(9))
        subjects = {r["subject"].decode() for r in records}
        assert len(subjects) == 1
        for r in records:
            session = f"FERA17_{code}_{r['subject'].decode()}_{r['task'].decode()}"
            csv = (corpus / ("Train_Occ" if code == "TR" else "Valid_Occ") / f"{session}.csv").read_text()
            rows = {int(line.split(",")[0]): [int(x) for x in line.split(",")[1:]] for line in csv.splitlines()[1:]}
            codes = np.array(rows[int(r["frame"])])
            expected = np.select([codes == 1, codes == 0], [1, -1], 0)  # 9 -> 0
            np.testing.assert_array_equal(r["au"], expected)
            assert r["image"].shape == (132, 132, 1) and r["image"].dtype == np.uint8
    # The 9s of the label files arrive as 0.
    all_au = np.stack([r["au"] for r in _records(report["dataset"], "train")])
    assert (all_au == 0).any()


def test_each_crop_holds_the_face(prepared):
    corpus, out, report = prepared
    cache = FaceCache(out / "face_cache")
    config = FaceConfig(**report["face"])
    from aufera.data.fera2017_dataset import _detector

    for npz in sorted((corpus / "groundtruth").glob("*.npz")):
        truth = np.load(npz)["face_box"]
        split = "FERA17_Train_MV" if "_TR_" in npz.stem else "FERA17_Valid_MV"
        for view in range(1, 10):
            faces = cache.load(corpus / split / f"{npz.stem}_{view}.mp4", config, _detector().cache_tag)
            assert faces is not None, "faces were not cached"
            for t in range(FRAMES):
                if faces.kept[t]:
                    assert box_iou(faces.boxes[t], truth[view - 1, t]) >= 0.5, (npz.stem, view, t)


def test_training_mean_is_the_mean_of_the_training_images(prepared):
    _, _, report = prepared
    mean = np.load(f"{report['dataset']}/{MEAN_FILE}")
    images = np.stack([r["image"] for r in _records(report["dataset"], "train")]).astype(np.float64)
    assert mean.shape == (132, 132, 1) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, images.mean(axis=0), atol=1e-3)
    valid = np.stack([r["image"] for r in _records(report["dataset"], "validation")]).astype(np.float64)
    assert not np.allclose(mean, valid.mean(axis=0), atol=1e-3)


def test_report_counts_agree_with_the_dataset(prepared):
    _, _, report = prepared
    written = json.loads(open(f"{report['dataset']}/{PREPARE_REPORT_JSON}").read())
    assert written == json.loads(json.dumps(report))
    assert report["synthetic"] is True
    for split in ("train", "validation"):
        records = _records(report["dataset"], split)
        counts = report["splits"][split]
        assert counts["frames"] == len(records)
        views = np.bincount([int(r["view"]) for r in records], minlength=9)
        assert [counts["frames_per_view"][str(v + 1)] for v in range(9)] == views.tolist()
        au = np.stack([r["au"] for r in records])
        for k, key in enumerate(["AU1", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23"]):
            known = au[:, k] != 0
            expected = (au[known, k] == 1).mean() if known.any() else None
            assert counts["au_base_rates"][key] == pytest.approx(expected)
    assert "train" in open(f"{report['dataset']}/{PREPARE_REPORT_MD}").read()


def test_rerun_reuses_faces_and_the_dataset(prepared, monkeypatch):
    corpus, out, report = prepared
    from aufera.data import faces

    calls = {"n": 0}
    real = faces.FaceDetector.detect

    def counting(self, images):
        calls["n"] += 1
        return real(self, images)

    monkeypatch.setattr(faces.FaceDetector, "detect", counting)
    again = prep.prepare(corpus, out, workers=1, progress=False)
    assert calls["n"] == 0
    assert again["splits"] == report["splits"]


def test_faulty_folder_is_reported_not_fatal(corpus, tmp_path):
    root = tmp_path / "fera"
    shutil.copytree(corpus, root)
    # A video without labels, a session missing a view, a damaged video.
    (root / "FERA17_Train_MV" / "FERA17_TR_Z009_T1_5.mp4").write_bytes(
        (corpus / "FERA17_Train_MV" / "FERA17_TR_F001_T1_5.mp4").read_bytes()
    )
    (root / "FERA17_Valid_MV" / "FERA17_VA_M001_T1_2.mp4").unlink()
    (root / "FERA17_Valid_MV" / "FERA17_VA_M001_T1_3.mp4").write_bytes(b"not a video")
    report = prep.prepare(root, tmp_path / "out", workers=1, progress=False)
    kinds = {p["kind"] for p in report["skipped"]}
    assert {"no_labels", "missing_view", "undecodable"} <= kinds
    assert report["splits"]["train"]["frames"] == 9 * FRAMES - report["dropped_frames"]["no_face"].get("train", 0)
    assert report["splits"]["validation"]["frames_per_view"]["2"] == 0
    assert report["splits"]["validation"]["frames_per_view"]["3"] == 0


def test_views_batched_or_alone_find_the_same_faces_and_report_the_same_problems(corpus, tmp_path):
    from aufera.data.fera2017 import find_sessions, iter_frames
    from aufera.data.fera2017_dataset import VideoJob, _detector

    root = tmp_path / "fera"
    shutil.copytree(corpus, root)
    # Two label rows fewer than frames in a session: a frame-count problem for each of its views.
    label = next((root / "Train_Occ").glob("*.csv"))
    label.write_text("".join(label.read_text().splitlines(True)[:-2]))
    (root / "FERA17_Valid_MV" / "FERA17_VA_M001_T1_4.mp4").write_bytes(b"not a video")
    sessions, _ = find_sessions(root)
    jobs = [VideoJob(s, v) for s in sessions for v in s.views]
    settings = FaceConfig()
    together = prep.find_faces(jobs, settings, tmp_path / "together", workers=1, progress=False)
    alone = prep.find_faces(jobs, settings, tmp_path / "alone", workers=1, progress=False, batch_views=False)
    assert together.keys() == alone.keys() == {job.key for job in jobs}
    tag = _detector().cache_tag
    for job in jobs:
        a, b = together[job.key], alone[job.key]
        assert {k: v for k, v in a.items() if k != "problems"} == {k: v for k, v in b.items() if k != "problems"}
        # The problems are those the reader reports when it decodes the video to pair it with its labels.
        expected = []
        paired = sum(1 for _ in iter_frames(job.session, job.view, expected))
        assert a["problems"] == b["problems"] == expected and a["frames"] == paired
        video = job.session.videos[job.view]
        if job.view == 4 and job.session.split.name == "validation":
            assert a["problems"][0].kind == "undecodable" and a["detector_frames"] == 0
            continue
        if job.session.split.name == "train":
            assert [p.kind for p in a["problems"]] == ["frame_count"] and paired == FRAMES - 2
        faces_a = FaceCache(tmp_path / "together").load(video, settings, tag)
        faces_b = FaceCache(tmp_path / "alone").load(video, settings, tag)
        np.testing.assert_array_equal(faces_a.source, faces_b.source)
        np.testing.assert_allclose(faces_a.boxes, faces_b.boxes, atol=1e-3)


def test_examples_made_in_worker_processes_are_those_made_in_process(prepared):
    from aufera.data.examples import VideoJob, parallel_examples, video_examples
    from aufera.data.fera2017 import find_sessions

    corpus, out, report = prepared
    sessions, _ = find_sessions(corpus)
    jobs = [VideoJob(s, v) for s in sessions for v in s.views][:5]
    settings, cache_dir = FaceConfig(**report["face"]), str(out / "face_cache")
    local = [item for job in jobs for item in video_examples(job, settings, cache_dir)]
    parallel = list(parallel_examples(jobs, settings, cache_dir, workers=2))
    assert [key for key, _ in parallel] == [key for key, _ in local] and len(local) >= 5 * FRAMES - 2
    for (_, a), (_, b) in zip(parallel, local, strict=True):
        assert a["image"] == b["image"] and a["frame"] == b["frame"]
        np.testing.assert_array_equal(a["au"], b["au"])
    # The workers' module loads no TensorFlow: they start quickly.
    code = "import sys, aufera.data.examples; print('tensorflow' in sys.modules, 'tensorflow_datasets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aufera.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _cli("prepare", "--data-dir", str(empty), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("aufera")]
    assert len(lines) == 1 and str(empty) in lines[0]
    bad = _cli("prepare", "--data-dir", str(empty), "--out", str(tmp_path / "o"), "--margin", "5")
    assert bad.returncode == 2 and "margin" in bad.stderr


def _by_key(path, split):
    return {(r["subject"], int(r["view"]), int(r["frame"])): r for r in _records(path, split)}


def test_beam_pipeline_builds_the_same_dataset(prepared, tmp_path):
    corpus, _, report = prepared
    beam_report = prep.prepare(corpus, tmp_path / "beam", workers=2, beam=True, progress=False)
    for split in ("train", "validation"):
        local, beam = _by_key(report["dataset"], split), _by_key(beam_report["dataset"], split)
        assert local.keys() == beam.keys() and len(local) > 0
        for key, record in local.items():
            np.testing.assert_array_equal(record["image"], beam[key]["image"])
            np.testing.assert_array_equal(record["au"], beam[key]["au"])
    np.testing.assert_array_equal(
        np.load(f"{report['dataset']}/{MEAN_FILE}"), np.load(f"{beam_report['dataset']}/{MEAN_FILE}")
    )


def test_tfds_build_cli_builds_the_builder(prepared, tmp_path):
    corpus, _, report = prepared
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow_datasets.scripts.cli.main",
            "build",
            "--imports",
            "aufera.data.fera2017_dataset",
            "fera2017",
            "--manual_dir",
            str(corpus),
            "--data_dir",
            str(tmp_path),
            "--config",
            "132",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    built = tmp_path / "fera2017" / "132" / "1.0.0"
    for split in ("train", "validation"):
        assert _by_key(built, split).keys() == _by_key(report["dataset"], split).keys()


def test_killed_prepare_leaves_no_complete_looking_dataset_and_resumes(prepared, tmp_path, monkeypatch):
    corpus, _, report = prepared
    from aufera.data import fera2017_dataset as ds

    real = ds.video_examples
    seen = {"videos": 0}

    def dying(job, settings, cache_dir):
        seen["videos"] += 1
        if seen["videos"] == 12:  # in the validation split
            raise KeyboardInterrupt
        yield from real(job, settings, cache_dir)

    monkeypatch.setattr(ds, "video_examples", dying)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        prep.prepare(corpus, out, workers=1, progress=False)
    version_dir = out / "fera2017" / "132" / "1.0.0"
    assert not version_dir.exists()
    with pytest.raises(Exception):  # noqa: B017 - TFDS raises its own error types here
        tfds.builder_from_directory(version_dir)
    monkeypatch.setattr(ds, "video_examples", real)
    again = prep.prepare(corpus, out, workers=1, progress=False)
    assert again["splits"] == report["splits"]
    for split in ("train", "validation"):
        first, second = _by_key(report["dataset"], split), _by_key(again["dataset"], split)
        assert first.keys() == second.keys()
        for key in first:
            np.testing.assert_array_equal(first[key]["image"], second[key]["image"])


def test_tfrecords_tools_verify_passes_and_names_a_corrupt_shard(prepared, tmp_path):
    _, _, report = prepared
    ok = subprocess.run(
        [sys.executable, "-m", "tfrecords_tools", "verify", report["dataset"]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0 and "all valid" in ok.stdout
    shard = sorted(Path(report["dataset"]).glob("*train.tfrecord*"))[0]
    broken = tmp_path / shard.name
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    bad = subprocess.run(
        [sys.executable, "-m", "tfrecords_tools", "verify", str(broken)], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 1 and shard.name in bad.stdout + bad.stderr
