"""Shared reading helpers for `tfrecords_tools.inspect`, `.verify` and `.stats`.

Features are read generically from the `tf.train.Example` protos, the way
TFDS writes them: an ``Image`` feature is a bytes_list holding one PNG/JPEG
file, an integer ``Tensor`` an int64_list (or raw little-endian bytes with
``encoding=BYTES``), nested ``FeaturesDict`` keys are flattened with ``/``.

TensorFlow is imported on first use (`load_tensorflow`), not when this module is imported,
so that ``import tfrecords_tools`` and the CLI's path checks stay fast.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tfrecords_tools.framing import HEADER_BYTES, Frame, FramingError, compression_of, iter_frames

PathsLike = str | os.PathLike | Iterable[str | os.PathLike]

DEFAULT_INSPECT_SAMPLE = 100
DEFAULT_STATS_SAMPLE = 1000
MAX_HISTOGRAM_BINS = 32  # an integer feature with more distinct values gets no histogram
MAX_DISTINCT_STRINGS = 20  # bytes features with at most this many short distinct values list them

IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def load_tensorflow():
    """TensorFlow, imported on first use so that the CLI can fail fast on bad paths."""
    import tensorflow as tf

    return tf


def parse_example(data: bytes):
    """`tf.train.Example` parsed from `data`; raises protobuf's DecodeError if it is not one."""
    return load_tensorflow().train.Example.FromString(data)


def image_format(value: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"gif"`` from the file's magic bytes, else None."""
    for magic, name in IMAGE_MAGIC:
        if value.startswith(magic):
            return name
    return None


def decode_image(value: bytes) -> np.ndarray:
    """Decode PNG/JPEG/GIF bytes to an (H, W, C) array (uint8, or uint16 for 16-bit PNG).

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not a decodable image.
    """
    return load_tensorflow().io.decode_image(value, expand_animations=False).numpy()


def feature_values(feature) -> tuple[str | None, list]:
    """(kind, values) of a `tf.train.Feature`; kind is None for an empty Feature."""
    kind = feature.WhichOneof("kind")
    return kind, (list(getattr(feature, kind).value) if kind else [])


def au_vector(feature) -> tuple[np.ndarray, str] | None:
    """The label vector stored in an ``au`` feature, and how it was stored.

    int64_list and float_list values are taken as they are; a bytes_list is
    read as raw int8 (what TFDS writes for ``Tensor(dtype=int8,
    encoding=BYTES)``), its values concatenated. Returns None for an empty
    feature.
    """
    kind, values = feature_values(feature)
    if kind is None:
        return None
    if kind == "bytes_list":
        return np.frombuffer(b"".join(values), dtype=np.int8).astype(np.int64), "bytes (int8)"
    return np.asarray(values, dtype=np.float64 if kind == "float_list" else np.int64), kind


def shape_text(shape: Iterable[int]) -> str:
    """(8, 8, 1) -> "8x8x1"."""
    return "x".join(str(int(s)) for s in shape)


def counter_text(counter: dict, limit: int = 4) -> str:
    """{"a": 3} -> "a"; {"a": 3, "b": 1} -> "a (3), b (1)", most common first, at most `limit` keys."""
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} ({v})" if len(counter) > 1 else str(k) for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")


# --------------------------------------------------------------------------- reading


@dataclass
class Scan:
    """Result of walking one file's framing (`scan_file`).

    Record offsets, lengths and stored data CRCs are kept in compact arrays
    (24 bytes per record), so scanning shards of millions of records is fine.

    Attributes:
        path: str. The file.
        offsets, lengths, data_crcs: array.array. One entry per well-framed record.
        error: FramingError or None. The first framing problem (records after
            it are not counted).
        open_error: str or None. Why the file could not be read at all.
    """

    path: str
    offsets: array = field(default_factory=lambda: array("q"))
    lengths: array = field(default_factory=lambda: array("q"))
    data_crcs: array = field(default_factory=lambda: array("L"))
    error: FramingError | None = None
    open_error: str | None = None

    @property
    def records(self) -> int:
        """Number of well-framed records before the end of the file or the first problem."""
        return len(self.offsets)

    def frame(self, index: int) -> Frame:
        """The `Frame` (without data) of record `index`."""
        return Frame(index, self.offsets[index], self.lengths[index], self.data_crcs[index])

    @property
    def error_text(self) -> str | None:
        """One line describing the framing or open error, or None."""
        if self.open_error:
            return self.open_error
        if self.error is not None:
            where = "uncompressed byte" if compression_of(self.path) else "byte"
            return f"record {self.error.index} at {where} {self.error.offset}: {self.error.reason}"
        return None


def scan_file(path: str) -> Scan:
    """Walk the framing of one file (`iter_frames`) and keep where every record is; never raises."""
    scan = Scan(path)
    try:
        for frame in iter_frames(path):
            scan.offsets.append(frame.offset)
            scan.lengths.append(frame.length)
            scan.data_crcs.append(frame.data_crc)
    except FramingError as error:
        scan.error = error
    except OSError as error:
        scan.open_error = f"cannot read: {error}"
    return scan


def read_records(scan: Scan, indices: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """Yield (index, data) for the wanted record indices of a scanned file, in increasing order.

    Uncompressed files are read by seeking to the offsets found by `scan_file`;
    GZIP files are streamed. Data CRCs are not checked here (`verify_files` does).
    """
    wanted = sorted(set(i for i in indices if 0 <= i < scan.records))
    if not wanted:
        return
    if compression_of(scan.path) is None:
        with open(scan.path, "rb") as handle:
            for index in wanted:
                handle.seek(scan.offsets[index] + HEADER_BYTES)
                yield index, handle.read(scan.lengths[index])
        return
    want = set(wanted)
    try:
        for frame in iter_frames(scan.path, read_data=True):
            if frame.index in want:
                yield frame.index, frame.data
            if frame.index >= wanted[-1]:
                return
    except (FramingError, OSError):
        return
