"""Tests of tfrecords_tools: framing/CRC, inspect, verify, stats, the CLI, and a real TFDS shard.

Every expected number is computed here, independently of the package: record
offsets from the lengths of the serialized Examples written (16 framing bytes
per record), base rates and histograms with numpy from the label array written,
pixel statistics from the images written.
"""

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # an editable install made before tfrecords_tools existed does not map it
    sys.path.insert(0, str(REPO))

import tfrecords_tools as tt  # noqa: E402
from tfrecords_tools.__main__ import main  # noqa: E402
from tfrecords_tools.stats import _evenly_spaced, _quotas  # noqa: E402

NUM_RECORDS = 20
NUM_AUS = 10


def _make_au(num_records: int, seed: int) -> np.ndarray:
    """Labels in {-1, 0, +1}; the last position is all unknown (its +1 rate is undefined)."""
    rng = np.random.default_rng(seed)
    au = rng.choice([-1, 0, 1], size=(num_records, NUM_AUS), p=[0.5, 0.2, 0.3]).astype(np.int64)
    au[:, -1] = 0
    return au


def _make_images(num_records: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, 256, size=(num_records, 8, 8, 1), dtype=np.uint8)


def _example(image: np.ndarray, au: np.ndarray, view: int, subject: bytes) -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])),
        "au": tf.train.Feature(int64_list=tf.train.Int64List(value=au.tolist())),
        "view": tf.train.Feature(int64_list=tf.train.Int64List(value=[view])),
        "subject": tf.train.Feature(bytes_list=tf.train.BytesList(value=[subject])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path: Path, num_records: int = NUM_RECORDS, seed: int = 0, options: str | None = None) -> dict:
    """Write Examples with tf.io.TFRecordWriter; return what was written and where each record starts."""
    au, images = _make_au(num_records, seed), _make_images(num_records, seed)
    views = np.arange(num_records) % 9 + 1
    subjects = [b"F001" if i < num_records // 2 else b"M002" for i in range(num_records)]
    serialized = [_example(images[i], au[i], int(views[i]), subjects[i]) for i in range(num_records)]
    with tf.io.TFRecordWriter(str(path), options=options) as writer:
        for data in serialized:
            writer.write(data)
    sizes = [8 + 4 + len(data) + 4 for data in serialized]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()  # offsets[k]: start of record k; [-1]: file size
    return {"path": path, "au": au, "images": images, "views": views, "subjects": subjects, "offsets": offsets}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("clean")
    info = write_records(folder / "clean.tfrecord")
    assert os.path.getsize(info["path"]) == info["offsets"][-1]
    return info


def _copy_with(source: Path, target: Path, change) -> Path:
    data = bytearray(source.read_bytes())
    target.write_bytes(bytes(change(data)))
    return target


# --------------------------------------------------------------------------- CRC and framing


def test_crc32c_standard_check_values():
    assert tt.crc32c(b"") == 0
    assert tt.crc32c(b"123456789") == 0xE3069283  # CRC-32C check value
    assert tt.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 test vector
    assert tt.crc32c(b"6789", tt.crc32c(b"12345")) == 0xE3069283  # incremental


def test_masked_crc32c_matches_what_tensorflow_wrote(clean):
    raw = clean["path"].read_bytes()
    length, length_crc = struct.unpack("<QI", raw[:12])
    (data_crc,) = struct.unpack("<I", raw[12 + length : 16 + length])
    assert tt.masked_crc32c(raw[:8]) == length_crc
    assert tt.masked_crc32c(raw[12 : 12 + length]) == data_crc


def test_iter_frames_finds_every_record_offset(clean):
    frames = list(tt.iter_frames(clean["path"]))
    assert [f.offset for f in frames] == clean["offsets"][:-1]
    assert [f.end for f in frames] == clean["offsets"][1:]
    assert all(f.data is None for f in frames)
    with_data = list(tt.iter_frames(clean["path"], read_data=True))
    example = tf.train.Example.FromString(with_data[3].data)
    assert list(example.features.feature["au"].int64_list.value) == clean["au"][3].tolist()


# --------------------------------------------------------------------------- inspect


def test_inspect_counts_keys_kinds_and_image_shape(clean):
    report = tt.inspect_files(clean["path"])
    (info,) = report["files"]
    assert info["records"] == info["sampled"] == NUM_RECORDS
    assert info["error"] is None
    features = info["features"]
    assert set(features) == {"au", "image", "subject", "view"}
    assert {k: v["kind"] for k, v in features.items()} == {
        "au": "int64_list",
        "image": "bytes_list",
        "subject": "bytes_list",
        "view": "int64_list",
    }
    assert features["au"]["values_per_record"] == {"min": NUM_AUS, "max": NUM_AUS}
    assert features["view"]["values_per_record"] == {"min": 1, "max": 1}
    assert features["image"]["image"] == {
        "formats": {"png": NUM_RECORDS},
        "shapes": {"8x8x1": NUM_RECORDS},
        "dtypes": {"uint8": NUM_RECORDS},
        "decode_errors": 0,
    }
    assert "image" not in features["subject"]
    assert features["subject"]["bytes_per_value"] == {"min": 4, "max": 4}
    assert report["total"]["records"] == NUM_RECORDS and report["total"]["files"] == 1


def test_inspect_au_base_rates_match_numpy(clean):
    au = clean["au"]
    rates = tt.inspect_files(clean["path"])["files"][0]["au"]
    known = (au != 0).sum(axis=0)
    expected_positive = [(p / k if k else None) for p, k in zip((au == 1).sum(axis=0), known, strict=True)]
    assert rates["records"] == NUM_RECORDS and rates["positions"] == NUM_AUS
    assert rates["positive_rate"][:-1] == pytest.approx(expected_positive[:-1])
    assert rates["positive_rate"][-1] is None  # last position never known
    assert rates["unknown_rate"] == pytest.approx((au == 0).mean(axis=0).tolist())
    assert rates["overall"]["positive_rate"] == pytest.approx((au == 1).sum() / (au != 0).sum())
    assert rates["overall"]["unknown_rate"] == pytest.approx((au == 0).mean())
    assert rates["invalid_values"] == 0


def test_inspect_sample_folder_glob_and_totals(clean, tmp_path):
    write_records(tmp_path / "a.tfrecord-00000-of-00002", num_records=6, seed=1)
    (tmp_path / "sub").mkdir()
    write_records(tmp_path / "sub" / "b.tfrecord-00001-of-00002", num_records=9, seed=2)
    (tmp_path / "dataset_info.json").write_text("{}")  # not a *.tfrecord* file: ignored in folders
    report = tt.inspect_files(tmp_path, sample=4)
    assert [Path(f["path"]).name for f in report["files"]] == ["a.tfrecord-00000-of-00002", "b.tfrecord-00001-of-00002"]
    assert [f["records"] for f in report["files"]] == [6, 9]
    assert [f["sampled"] for f in report["files"]] == [4, 4]
    assert report["total"]["records"] == 15 and report["total"]["sampled"] == 8
    assert report["total"]["au"]["records"] == 8
    assert report["total"]["features"]["image"]["records"] == 8
    globbed = tt.inspect_files([str(tmp_path / "**" / "*.tfrecord-*"), clean["path"]], sample=0)
    assert [f["records"] for f in globbed["files"]] == [6, 9, NUM_RECORDS]


# --------------------------------------------------------------------------- verify


def test_verify_clean_file(clean, capsys):
    assert tt.verify_files(clean["path"]) == []
    check = tt.verify_file(clean["path"])
    assert check.valid and check.records == NUM_RECORDS
    assert main(["verify", str(clean["path"])]) == 0
    assert capsys.readouterr().out.strip() == f"1 files, {NUM_RECORDS} records, all valid"


@pytest.mark.parametrize("k", [0, 7, NUM_RECORDS - 1])
def test_verify_flipped_data_byte_reports_exact_record_offset(clean, tmp_path, k):
    start = clean["offsets"][k]

    def flip(data):
        data[start + 12 + 30] ^= 0x40  # a byte inside record k's data
        return data

    path = _copy_with(clean["path"], tmp_path / "flipped.tfrecord", flip)
    (problem,) = tt.verify_files(path)
    assert (problem.path, problem.record, problem.offset) == (str(path), k, start)
    assert "data CRC mismatch" in problem.reason
    assert str(problem).startswith(f"{path}: corrupt at byte {start} (record {k}): ")
    assert tt.verify_file(path).records == k


def test_verify_truncated_in_the_middle_of_a_record(clean, tmp_path):
    k = 12
    start = clean["offsets"][k]
    path = _copy_with(clean["path"], tmp_path / "truncated.tfrecord", lambda d: d[: start + 12 + 25])
    (problem,) = tt.verify_files(path)
    assert (problem.record, problem.offset) == (k, start)
    assert "truncated" in problem.reason
    # cut inside the 12-byte header of record k
    path = _copy_with(clean["path"], tmp_path / "truncated_header.tfrecord", lambda d: d[: start + 5])
    (problem,) = tt.verify_files(path)
    assert (problem.record, problem.offset) == (k, start)
    assert "truncated header" in problem.reason


def test_verify_corrupt_length_field_and_non_example_record(clean, tmp_path):
    k = 4
    start = clean["offsets"][k]

    def corrupt_length(data):
        data[start + 1] ^= 0x01
        return data

    path = _copy_with(clean["path"], tmp_path / "length.tfrecord", corrupt_length)
    (problem,) = tt.verify_files(path)
    assert (problem.record, problem.offset) == (k, start) and "length CRC mismatch" in problem.reason

    path = tmp_path / "not_example.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(tf.train.Example().SerializeToString())
        writer.write(b"\x0a\xff not a protobuf")
    (problem,) = tt.verify_files(path)
    assert (problem.record, problem.offset) == (1, 16) and "not a tf.train.Example" in problem.reason


def test_verify_gzip_files(tmp_path):
    info = write_records(tmp_path / "ok.tfrecord.gz", num_records=8, options="GZIP")
    assert tt.verify_files(info["path"]) == []
    assert tt.inspect_files(info["path"])["files"][0]["records"] == 8
    compressed = info["path"].read_bytes()
    path = tmp_path / "cut.tfrecord.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    (problem,) = tt.verify_files(path)
    assert problem.offset is None and 0 <= problem.record < 8
    assert str(problem).startswith(f"{path}: corrupt at record {problem.record}")
    # the uncompressed stream has the same framing as an uncompressed file
    assert len(gzip.decompress(compressed)) == info["offsets"][-1]


# --------------------------------------------------------------------------- stats


def test_feature_stats_match_numpy(clean):
    au, images = clean["au"], clean["images"].astype(np.float64)
    stats = tt.feature_stats(clean["path"])
    assert (stats["files"], stats["records"], stats["sampled"], stats["errors"]) == (1, NUM_RECORDS, NUM_RECORDS, [])
    features = stats["features"]
    assert features["au"]["type"] == "numeric" and features["au"]["kind"] == "int64_list"
    assert features["au"]["count"] == au.size
    assert (features["au"]["min"], features["au"]["max"]) == (int(au.min()), int(au.max()))
    assert features["au"]["mean"] == pytest.approx(au.mean())
    assert features["au"]["std"] == pytest.approx(au.std())
    values, counts = np.unique(au, return_counts=True)
    assert features["au"]["histogram"] == dict(zip(values.tolist(), counts.tolist(), strict=True))
    values, counts = np.unique(clean["views"], return_counts=True)
    assert features["view"]["histogram"] == dict(zip(values.tolist(), counts.tolist(), strict=True))
    image = features["image"]
    assert image["type"] == "image" and image["images"] == NUM_RECORDS and image["shapes"] == {"8x8x1": NUM_RECORDS}
    assert image["pixel_mean"] == pytest.approx(images.mean())
    assert image["pixel_std"] == pytest.approx(images.std())
    assert (image["pixel_min"], image["pixel_max"]) == (images.min(), images.max())
    assert features["subject"]["distinct"] == {"F001": NUM_RECORDS // 2, "M002": NUM_RECORDS // 2}


def test_feature_stats_sample_is_evenly_spaced(clean):
    stats = tt.feature_stats(clean["path"], sample=5)
    assert stats["sampled"] == 5
    chosen = [i * NUM_RECORDS // 5 for i in range(5)]  # records 0, 4, 8, 12, 16
    assert stats["features"]["au"]["mean"] == pytest.approx(clean["au"][chosen].mean())
    assert _evenly_spaced(10, 3) == [0, 3, 6] and list(_evenly_spaced(3, 5)) == [0, 1, 2]
    assert _quotas([10, 30], 8) == [2, 6] and _quotas([3, 4], 0) == [3, 4] and sum(_quotas([5, 5, 5], 7)) == 7


def test_stats_cli_text(clean, capsys):
    assert main(["stats", str(clean["path"]), "--sample", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{NUM_RECORDS} of {NUM_RECORDS} records sampled from 1 files" in out
    assert "png images 8x8x1 uint8" in out and "F001:10 M002:10" in out


# --------------------------------------------------------------------------- paths and CLI


def test_resolve_paths_errors(tmp_path):
    with pytest.raises(tt.InputPathError, match="no such file"):
        tt.resolve_paths(tmp_path / "missing.tfrecord")
    with pytest.raises(tt.InputPathError, match="no \\*.tfrecord\\* files"):
        tt.resolve_paths(tmp_path)
    with pytest.raises(tt.InputPathError, match="no files match"):
        tt.resolve_paths(str(tmp_path / "*.tfrecord"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    # TF_CPP_MIN_LOG_LEVEL comes with os.environ from tests/conftest.py.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "tfrecords_tools", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_help_and_bad_paths(tmp_path):
    result = _cli("--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("inspect", "verify", "stats"))
    missing = tmp_path / "nope.tfrecord"
    result = _cli("inspect", str(missing))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"{missing}: no such file or directory"]
    result = _cli("verify", str(tmp_path))  # an empty folder
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and str(tmp_path) in result.stderr


def test_cli_verify_reports_corrupt_file_and_exits_1(clean, tmp_path):
    k = 7
    start = clean["offsets"][k]

    def flip(data):
        data[start + 20] ^= 0xFF
        return data

    bad = _copy_with(clean["path"], tmp_path / "bad.tfrecord", flip)
    result = _cli("verify", str(clean["path"]), str(bad))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{bad}: corrupt at byte {start} (record {k}): data CRC mismatch")
    assert lines[-1] == f"2 files, {NUM_RECORDS + k} valid records, 1 corrupt files"


def test_cli_inspect_json(clean):
    result = _cli("inspect", "--json", str(clean["path"]))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["records"] == NUM_RECORDS
    assert report["files"][0]["features"]["image"]["image"]["shapes"] == {"8x8x1": NUM_RECORDS}
    assert report["files"][0]["au"]["positive_rate"][-1] is None


# --------------------------------------------------------------------------- a real TFDS shard


@pytest.mark.parametrize("encoding", ["none", "bytes"])
def test_inspect_tfds_shard(tmp_path, encoding):
    import tensorflow_datasets as tfds

    au = _make_au(12, seed=3).astype(np.int8)
    images = _make_images(12, seed=3)

    class TinyAu(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = {
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "au": tfds.features.Tensor(shape=(NUM_AUS,), dtype=np.int8, encoding=encoding),
            }
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(len(au)):
                yield i, {"image": images[i], "au": au[i]}

    builder = TinyAu(data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(verify_ssl=False))
    report = tt.inspect_files(builder.data_dir)  # the version folder: shards, not the JSON files
    (info,) = report["files"]
    assert ".tfrecord-00000-of-00001" in info["path"] and info["records"] == 12
    expected_kind = "bytes_list" if encoding == "bytes" else "int64_list"
    assert info["features"]["au"]["kind"] == expected_kind
    assert info["features"]["image"]["image"]["shapes"] == {"8x8x1": 12}
    rates = info["au"]
    known = au[:, :-1] != 0  # the last position is all unknown
    assert rates["positive_rate"][:-1] == pytest.approx(((au[:, :-1] == 1).sum(0) / known.sum(0)).tolist())
    assert rates["positive_rate"][-1] is None
    assert rates["unknown_rate"] == pytest.approx((au == 0).mean(0).tolist())
    assert tt.feature_stats(builder.data_dir)["features"]["au"]["mean"] == pytest.approx(au.mean())
