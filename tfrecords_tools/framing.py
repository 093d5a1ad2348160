"""TFRecord framing, masked CRC32C and input paths, in pure Python (no TensorFlow).

A TFRecord file is a plain concatenation of records, each framed as::

    uint64  length             little-endian, number of data bytes
    uint32  masked_crc32c(length bytes)
    bytes   data[length]       usually a serialized tf.train.Example
    uint32  masked_crc32c(data)

so a record of L data bytes takes 8 + 4 + L + 4 = L + 16 bytes, and record k
starts at byte sum(L_i + 16 for i < k). There is no file header or index.
CRC32C is the Castagnoli CRC (polynomial 0x1EDC6F41, reflected 0x82F63B78);
TensorFlow stores it "masked" (rotated right by 15 bits plus 0xA282EAD8) so
that a CRC of data that itself holds CRCs does not degenerate.

`iter_frames` walks that framing without TensorFlow. It reads only the
12-byte headers and seeks over the data unless asked for the data, so counting
the records of a large uncompressed file is cheap. It checks the length CRC of
every header and that every record fits in the file; it does not check the
data CRCs (that is pure-Python slow, see `crc32c`): `tfrecords_tools.verify`
lets TensorFlow's C++ reader do that and uses this module only to turn a bad
record index into an exact byte offset and a precise reason.

Files whose name ends with ``.gz`` or ``.gzip`` are GZIP-compressed TFRecords
(``tf.io.TFRecordOptions(compression_type="GZIP")``); they are walked through
`gzip`, and offsets then count bytes of the uncompressed stream.
"""

from __future__ import annotations

import glob
import gzip
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

HEADER_BYTES = 12  # uint64 length + uint32 masked CRC of the length
FOOTER_BYTES = 4  # uint32 masked CRC of the data
RECORD_OVERHEAD = HEADER_BYTES + FOOTER_BYTES  # 16 bytes framing per record

_CRC32C_POLY = 0x82F63B78  # Castagnoli polynomial, bit-reflected
_MASK_DELTA = 0xA282EAD8


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C (Castagnoli) of `data`, unmasked, as an unsigned 32-bit int.

    Pure Python, one table lookup per byte (about 10-20 MB/s): fine for
    headers and single records, too slow to check whole multi-GB shards.

    Args:
        data: bytes-like.
        crc: int. CRC of the preceding bytes, to checksum a stream in pieces:
            ``crc32c(b, crc32c(a)) == crc32c(a + b)``.

    Example:
        crc32c(b"123456789") == 0xE3069283  # the standard check value
    """
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """TensorFlow's CRC masking: rotate right by 15 bits, add 0xA282EAD8 (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The checksum TFRecord framing stores: ``mask_crc(crc32c(data))``."""
    return mask_crc(crc32c(data))


def compression_of(path: str | os.PathLike) -> str | None:
    """``"GZIP"`` for names ending in .gz / .gzip, else None (uncompressed).

    The value is what `tf.data.TFRecordDataset(compression_type=...)` expects
    (None and "" both mean uncompressed).
    """
    name = os.fspath(path).lower()
    return "GZIP" if name.endswith((".gz", ".gzip")) else None


@dataclass(frozen=True)
class Frame:
    """One record as found by `iter_frames`.

    Attributes:
        index: int. 0-based record number in the file.
        offset: int. Byte offset of the record's first header byte (of the
            uncompressed stream for GZIP files).
        length: int. Number of data bytes.
        data_crc: int. The masked CRC32C stored after the data (not checked).
        data: bytes or None. The record's data if `iter_frames` was asked for it.
    """

    index: int
    offset: int
    length: int
    data_crc: int
    data: bytes | None = None

    @property
    def end(self) -> int:
        """Offset of the byte after this record, i.e. where the next one starts."""
        return self.offset + self.length + RECORD_OVERHEAD


class FramingError(Exception):
    """The TFRecord framing of a file is broken at record `index`.

    Attributes:
        path: str. The file.
        index: int. 0-based number of the first bad record (= number of good
            records before it).
        offset: int. Byte offset where that record starts (of the uncompressed
            stream for GZIP files).
        reason: str. One line saying what is wrong.
    """

    def __init__(self, path: str, index: int, offset: int, reason: str):
        super().__init__(f"{path}: record {index} at byte {offset}: {reason}")
        self.path = path
        self.index = index
        self.offset = offset
        self.reason = reason


def _read_exactly(handle, size: int) -> bytes:
    """Read up to `size` bytes, looping over short reads; fewer only at end of stream."""
    chunks, remaining = [], size
    while remaining > 0:
        chunk = handle.read(min(remaining, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def iter_frames(path: str | os.PathLike, read_data: bool = False, compression: str | None = "auto") -> Iterator[Frame]:
    """Walk the records of one TFRecord file, yielding a `Frame` per record.

    Checks, for every record, that the 12-byte header is complete, that its
    length CRC matches, and that the data and data CRC fit in the file. Data
    CRCs are not checked (use `tfrecords_tools.verify_files` for that).

    Args:
        path: str or path-like. A TFRecord file.
        read_data: bool. If True, each `Frame.data` holds the record bytes;
            otherwise the data is skipped (seeked over) and `Frame.data` is None.
        compression: "auto" (from the file name, see `compression_of`), None or
            "GZIP".

    Raises:
        FramingError: at the first broken record; the records before it have
            been yielded.
        OSError: the file cannot be opened.
    """
    path = os.fspath(path)
    if compression == "auto":
        compression = compression_of(path)
    gzipped = compression == "GZIP"
    if compression not in (None, "", "GZIP"):
        raise ValueError(f"compression must be 'auto', None or 'GZIP'. Received: compression={compression!r}")
    size = None if gzipped else os.path.getsize(path)
    opener = gzip.open if gzipped else open
    index = offset = 0
    with opener(path, "rb") as handle:
        while True:
            try:
                header = _read_exactly(handle, HEADER_BYTES)
                if not header:
                    return
                if len(header) < HEADER_BYTES:
                    raise FramingError(
                        path,
                        index,
                        offset,
                        f"truncated header: {len(header)} of {HEADER_BYTES} bytes before the end of the file",
                    )
                length, length_crc = struct.unpack("<QI", header)
                expected = masked_crc32c(header[:8])
                if expected != length_crc:
                    raise FramingError(
                        path,
                        index,
                        offset,
                        f"length CRC mismatch (stored 0x{length_crc:08x}, computed 0x{expected:08x}); "
                        f"the length field reads {length}",
                    )
                remaining = None if size is None else size - offset - HEADER_BYTES
                if remaining is not None and length + FOOTER_BYTES > remaining:
                    raise FramingError(
                        path,
                        index,
                        offset,
                        f"truncated record: header declares {length} data bytes + {FOOTER_BYTES} CRC bytes, "
                        f"only {remaining} bytes left in the file",
                    )
                if read_data or gzipped:
                    data = _read_exactly(handle, length)
                else:
                    handle.seek(length, os.SEEK_CUR)
                    data = None
                footer = _read_exactly(handle, FOOTER_BYTES)
                if (data is not None and len(data) < length) or len(footer) < FOOTER_BYTES:
                    got = (len(data) if data is not None else length) + len(footer)
                    raise FramingError(
                        path,
                        index,
                        offset,
                        f"truncated record: header declares {length} data bytes + {FOOTER_BYTES} CRC bytes, "
                        f"the stream ends after {got}",
                    )
            except (OSError, EOFError, zlib.error) as error:
                if not gzipped:
                    raise
                raise FramingError(path, index, offset, f"gzip stream error: {error}") from error
            (data_crc,) = struct.unpack("<I", footer)
            yield Frame(index, offset, length, data_crc, data if read_data else None)
            index += 1
            offset += length + RECORD_OVERHEAD


def read_frame(path: str | os.PathLike, offset: int, length: int) -> bytes:
    """The `length` data bytes of the uncompressed-file record starting at byte `offset`."""
    with open(os.fspath(path), "rb") as handle:
        handle.seek(offset + HEADER_BYTES)
        return _read_exactly(handle, length)


# --------------------------------------------------------------------------- paths

RECORD_PATTERN = "*.tfrecord*"
_GLOB_CHARS = frozenset("*?[")


class InputPathError(FileNotFoundError):
    """A path given to the tools does not exist, or holds/matches no TFRecord files.

    ``str(error)`` is one line naming the path, e.g.
    ``"data/nope: no such file or directory"``.
    """


def resolve_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Expand files, globs and folders into a sorted-per-argument list of TFRecord files.

    - an existing file is taken as is, whatever its name;
    - an existing folder gives all files named ``*.tfrecord*`` under it, recursively
      (so a TFDS dataset folder gives its shards, not its JSON metadata);
    - anything else with ``*``, ``?`` or ``[`` is a glob (``**`` allowed); matched
      files are taken as is, matched folders are expanded as above.

    Duplicates are dropped, first occurrence kept.

    Raises:
        InputPathError: for the first path that does not exist or yields no file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[str, None] = {}
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isfile(path):
            candidates = [path]
        elif os.path.isdir(path):
            candidates = _records_in_folder(path)
            if not candidates:
                raise InputPathError(f"{path}: no {RECORD_PATTERN} files in this folder")
        elif _GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise InputPathError(f"{path}: no files match this pattern")
            candidates = []
            for match in matches:
                candidates.extend(_records_in_folder(match) if os.path.isdir(match) else [match])
            if not candidates:
                raise InputPathError(f"{path}: the pattern matches only folders without {RECORD_PATTERN} files")
        else:
            raise InputPathError(f"{path}: no such file or directory")
        for candidate in candidates:
            found.setdefault(candidate, None)
    if not found:
        raise InputPathError("no paths given")
    return list(found)


def _records_in_folder(folder: str) -> list[str]:
    pattern = os.path.join(glob.escape(folder), "**", RECORD_PATTERN)
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
