"""`verify_files`: every record CRC-checked and parsed, with the exact offset of the first bad one."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tfrecords_tools.core import PathsLike, load_tensorflow, parse_example, scan_file
from tfrecords_tools.framing import compression_of, masked_crc32c, read_frame, resolve_paths


@dataclass(frozen=True)
class Problem:
    """The first bad record of a TFRecord file.

    Attributes:
        path: str. The file.
        record: int. 0-based index of the first bad record (= number of valid
            records before it).
        offset: int or None. Byte offset in the file where that record starts
            (its length field); None for compressed files.
        reason: str. One line: what is wrong (from the framing walk, a CRC
            recomputed in Python, protobuf, or TensorFlow's message).
        stream_offset: int or None. For GZIP files, where the record starts in
            the uncompressed stream, when known.

    ``str(problem)`` is the line the CLI prints, e.g.
    ``data/a.tfrecord: corrupt at byte 1234 (record 7): data CRC mismatch (...)``.
    """

    path: str
    record: int
    offset: int | None
    reason: str
    stream_offset: int | None = None

    def __str__(self) -> str:
        if self.offset is not None:
            return f"{self.path}: corrupt at byte {self.offset} (record {self.record}): {self.reason}"
        where = f" (uncompressed byte {self.stream_offset})" if self.stream_offset is not None else ""
        return f"{self.path}: corrupt at record {self.record}{where}: {self.reason}"

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "record": self.record,
            "offset": self.offset,
            "stream_offset": self.stream_offset,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FileCheck:
    """Outcome of `verify_file`: how many records are valid, and the problem if any."""

    path: str
    records: int
    problem: Problem | None

    @property
    def valid(self) -> bool:
        return self.problem is None


def _first_line(message: str) -> str:
    """TensorFlow's error message without the function-node prefix and op suffix, on one line."""
    text = " ".join(message.split())
    if text.startswith("{{function_node") and "}}" in text:
        text = text.split("}}", 1)[1].strip()
    return text.split(" [Op:", 1)[0].strip()


_TF_PREFIX = "TensorFlow: "


def _tf_pass(path: str, batch_size: int = 256) -> tuple[int, str | None]:
    """Read every record with TensorFlow (CRCs checked) and parse it as a tf.train.Example.

    Returns:
        (valid, reason): the number of valid records before the first bad one
        (all of them for a clean file), and None for a clean file or a one-line
        reason ("not a tf.train.Example (...)" or "TensorFlow: <its message>").
    """
    tf = load_tensorflow()
    dataset = tf.data.TFRecordDataset(path, compression_type=compression_of(path) or "")
    count = 0
    try:
        for batch in dataset.batch(batch_size):
            for data in batch.numpy():
                try:
                    parse_example(data)
                except Exception as exc:  # google.protobuf.message.DecodeError
                    return count, f"not a tf.train.Example ({type(exc).__name__}: {exc})"
                count += 1
        return count, None
    except tf.errors.OpError:
        pass
    # A batch failed to read: re-read its records one by one to find the exact one.
    try:
        for data in dataset.skip(count):
            try:
                parse_example(data.numpy())
            except Exception as exc:
                return count, f"not a tf.train.Example ({type(exc).__name__}: {exc})"
            count += 1
    except tf.errors.OpError as error:
        return count, _TF_PREFIX + _first_line(error.message)
    return count, _TF_PREFIX + "failed reading a batch of records, but not the same records one by one"


def verify_file(path: str | os.PathLike) -> FileCheck:
    """Check one TFRecord file completely (see `verify_files`); never raises for bad data.

    Returns:
        FileCheck: ``records`` is the number of valid records (before the
        problem, if any); ``problem`` is None for a valid file.
    """
    path = os.fspath(path)
    gzipped = compression_of(path) is not None
    scan = scan_file(path)
    if scan.open_error:
        return FileCheck(path, 0, Problem(path, 0, None if gzipped else 0, scan.open_error))
    valid, tf_reason = _tf_pass(path)
    framing = scan.error
    if framing is None and tf_reason is None:
        return FileCheck(path, valid, None)
    if framing is not None and (tf_reason is None or framing.index <= valid):
        index, offset, reason = framing.index, framing.offset, framing.reason
    else:
        index, reason = valid, tf_reason
        if index < scan.records:
            offset = scan.offsets[index]
            if reason.startswith(_TF_PREFIX) and not gzipped:
                # Say which CRC is wrong: recompute the data CRC of this one record in Python.
                frame = scan.frame(index)
                computed = masked_crc32c(read_frame(path, frame.offset, frame.length))
                if computed != frame.data_crc:
                    reason = f"data CRC mismatch (stored 0x{frame.data_crc:08x}, computed 0x{computed:08x})"
        else:  # TensorFlow complains after the last record the framing walk accepted
            offset = scan.frame(scan.records - 1).end if scan.records else 0
    if gzipped:
        problem = Problem(path, index, None, reason, stream_offset=offset)
    else:
        problem = Problem(path, index, offset, reason)
    return FileCheck(path, index, problem)


def verify_files(paths: PathsLike) -> list[Problem]:
    """Check every record of every file; return one `Problem` per broken file (empty list: all valid).

    Each file is checked twice, and the first bad record of either check is
    reported:

    1. a pure-Python walk of the framing (`tfrecords_tools.framing.iter_frames`)
       finds every record's byte offset, checks every length CRC and that no
       record runs past the end of the file (truncation);
    2. `tf.data.TFRecordDataset` reads every record with its data CRC checked
       (C++ speed), and each record is parsed as a `tf.train.Example`.

    For a record TensorFlow rejects, the data CRC is recomputed in Python so the
    reason says "data CRC mismatch (stored ..., computed ...)"; otherwise
    TensorFlow's message is kept. The offset is where the bad record starts
    (its length field), exact for uncompressed files; for GZIP files (name ends
    with .gz) the problem carries the record index and the offset in the
    uncompressed stream instead.

    Raises:
        tfrecords_tools.InputPathError: a path does not exist or holds no TFRecord file.

    Example:
        for problem in verify_files("data/*.tfrecord*"):
            print(problem)  # data/a.tfrecord: corrupt at byte 1234 (record 7): ...
    """
    return [check.problem for check in map(verify_file, resolve_paths(paths)) if check.problem is not None]
