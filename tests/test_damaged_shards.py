"""A damaged TFRecord shard met at train time: one line naming the shard, the record and the byte where it starts.

Training reads the prepared dataset into memory (`aufera.data.pipeline.load_split_arrays`). A copy of the tiny
dataset has one record of a shard damaged in each of the ways a disk or a copy damages a file (a flipped byte in the
data, in a CRC, in the length field; the file cut inside a record or a header) and in the ways a writer could (a
record whose CRC holds but whose image is not a PNG, or which is not a tf.train.Example at all). The expected byte
offset is computed here from the intact shard's bytes, with `struct`, independently of `tfrecords_tools`.
"""

import shutil
import struct
from pathlib import Path

import pytest
from disk_limits import tree

from aufera.errors import AuferaError

TINY = ["batch_size=8", "max_steps_per_epoch=2", "epochs_network1=2", "epochs_network2=1", "validation.batch_size=36"]


def record_offsets(data: bytes) -> list[int]:
    """Where each record of a TFRecord file starts: uint64 length, uint32 CRC, the data, uint32 CRC."""
    offsets, at = [], 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        offsets.append(at)
        at += 8 + 4 + length + 4
    assert at == len(data)
    return offsets


def _with_crc(data: bytearray, start: int, payload: bytes) -> bytearray:
    """Record `start`'s data replaced by `payload` of the same length, its data CRC made to match again."""
    from tfrecords_tools import masked_crc32c

    (length,) = struct.unpack_from("<Q", data, start)
    assert len(payload) == length
    data[start + 12 : start + 12 + length] = payload
    struct.pack_into("<I", data, start + 12 + length, masked_crc32c(payload))
    return data


def _not_png(data, start):
    (length,) = struct.unpack_from("<Q", data, start)
    payload = bytearray(data[start + 12 : start + 12 + length])
    idat = payload.index(b"IDAT")
    payload[idat + 30 : idat + 40] = bytes(10)
    return _with_crc(data, start, bytes(payload))


def _not_an_example(data, start):
    (length,) = struct.unpack_from("<Q", data, start)
    payload = bytearray(data[start + 12 : start + 12 + length])
    payload[:4] = b"\xff\xff\xff\xff"
    return _with_crc(data, start, bytes(payload))


def _flip(data, at):
    data[at] ^= 0xFF
    return data


# kind -> (damage(data, record start, record end), what the error says)
DAMAGE = {
    "byte flipped in the data": (lambda d, s, e: _flip(d, s + 12 + 100), "data CRC mismatch"),
    "data CRC changed": (lambda d, s, e: _flip(d, e - 2), "data CRC mismatch"),
    "length field changed": (lambda d, s, e: _flip(d, s), "length CRC mismatch"),
    "length CRC changed": (lambda d, s, e: _flip(d, s + 9), "length CRC mismatch"),
    "cut inside a record": (lambda d, s, e: d[: s + 12 + 50], "truncated record"),
    "cut inside a header": (lambda d, s, e: d[: s + 5], "truncated header"),
    "image not a PNG, CRC intact": (lambda d, s, e: _not_png(d, s), "the record does not decode (Invalid PNG data"),
    "not a tf.train.Example, CRC intact": (lambda d, s, e: _not_an_example(d, s), "not a tf.train.Example"),
}


def damaged_copy(dataset, folder: Path, split: str, kind: str) -> tuple[Path, Path, int, int]:
    """A copy of the dataset with the middle record of the split's shard damaged; (copy, shard, record, offset)."""
    copy = folder / "dataset"
    shutil.copytree(dataset, copy)
    (shard,) = sorted(copy.glob(f"*-{split}.tfrecord-*"))
    data = bytearray(shard.read_bytes())
    offsets = record_offsets(bytes(data))
    record = len(offsets) // 2
    damage, _ = DAMAGE[kind]
    shard.write_bytes(bytes(damage(data, offsets[record], offsets[record + 1])))
    return copy, shard, record, offsets[record]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_record_is_named_by_shard_record_and_byte(tiny_dataset, tmp_path, kind):
    from aufera.data.pipeline import load_split_arrays

    copy, shard, record, offset = damaged_copy(tiny_dataset, tmp_path, "train", kind)
    with pytest.raises(AuferaError) as caught:
        load_split_arrays(copy, "train")
    message = str(caught.value)
    assert message.startswith(f"{shard}: corrupt at byte {offset} (record {record}): {DAMAGE[kind][1]}"), message
    assert "\n" not in message and message.endswith("prepare the dataset again into a new --out")


def test_the_validation_shard_is_named_when_it_is_the_damaged_one(tiny_dataset, tmp_path):
    from aufera.data.pipeline import load_split_arrays

    copy, shard, record, offset = damaged_copy(tiny_dataset, tmp_path, "validation", "byte flipped in the data")
    assert len(load_split_arrays(copy, "train")) == 72  # the intact split reads as before
    with pytest.raises(AuferaError, match=rf"^{shard}: corrupt at byte {offset} \(record {record}\): data CRC"):
        load_split_arrays(copy, "validation")


def test_train_on_a_damaged_shard_is_one_line_exit_2_and_writes_nothing(tiny_dataset, tmp_path, capsys):
    """A new run directory is not created; one being resumed is left as it was."""
    from aufera.cli import main

    copy, shard, record, offset = damaged_copy(tiny_dataset, tmp_path, "train", "cut inside a record")
    new, resumed = tmp_path / "new_run", tmp_path / "resumed_run"
    resumed.mkdir()
    (resumed / "notes.txt").write_text("an earlier run")
    for run in (new, resumed):
        before = tree(run) if run.exists() else None
        status = main(["train", "--config", "cpu-small", "--data", str(copy), "--out", str(run), "--quiet", *TINY])
        err = capsys.readouterr().err
        assert status == 2
        assert err.startswith(f"aufera train: error: {shard}: corrupt at byte {offset} (record {record}): truncated")
        assert err.count("\n") == 1 and "Traceback" not in err
        assert (tree(run) if run.exists() else None) == before
