"""`inspect_files`: record counts, feature keys/kinds/shapes, images and AU label base rates."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tfrecords_tools.core import (
    DEFAULT_INSPECT_SAMPLE,
    PathsLike,
    au_vector,
    counter_text,
    decode_image,
    feature_values,
    image_format,
    parse_example,
    read_records,
    scan_file,
    shape_text,
)
from tfrecords_tools.framing import compression_of, resolve_paths


class _FeatureSummary:
    """Shape-like summary of one feature key over the sampled records (for `inspect_files`)."""

    def __init__(self):
        self.kinds: Counter = Counter()
        self.records = 0
        self.min_values: int | None = None
        self.max_values: int | None = None
        self.min_bytes: int | None = None
        self.max_bytes: int | None = None
        self.formats: Counter = Counter()
        self.shapes: Counter = Counter()
        self.dtypes: Counter = Counter()
        self.decode_errors = 0

    def update(self, feature, decode: bool = True) -> None:
        kind, values = feature_values(feature)
        self.kinds[kind or "empty"] += 1
        self.records += 1
        n = len(values)
        self.min_values = n if self.min_values is None else min(self.min_values, n)
        self.max_values = n if self.max_values is None else max(self.max_values, n)
        if kind != "bytes_list":
            return
        for value in values:
            size = len(value)
            self.min_bytes = size if self.min_bytes is None else min(self.min_bytes, size)
            self.max_bytes = size if self.max_bytes is None else max(self.max_bytes, size)
            fmt = image_format(value)
            if fmt is None:
                continue
            self.formats[fmt] += 1
            if not decode:
                continue
            try:
                image = decode_image(value)
            except Exception:  # tf.errors.InvalidArgumentError and friends
                self.decode_errors += 1
                continue
            self.shapes[shape_text(image.shape)] += 1
            self.dtypes[str(image.dtype)] += 1

    def merge(self, other: _FeatureSummary) -> None:
        self.kinds.update(other.kinds)
        self.records += other.records
        for name, pick in (("min_values", min), ("max_values", max), ("min_bytes", min), ("max_bytes", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        self.formats.update(other.formats)
        self.shapes.update(other.shapes)
        self.dtypes.update(other.dtypes)
        self.decode_errors += other.decode_errors

    def to_dict(self) -> dict:
        result = {
            "kind": self.kinds.most_common(1)[0][0] if len(self.kinds) == 1 else dict(self.kinds),
            "records": self.records,
            "values_per_record": {"min": self.min_values, "max": self.max_values},
        }
        if self.min_bytes is not None:
            result["bytes_per_value"] = {"min": self.min_bytes, "max": self.max_bytes}
        if self.formats:
            result["image"] = {
                "formats": dict(self.formats),
                "shapes": dict(self.shapes),
                "dtypes": dict(self.dtypes),
                "decode_errors": self.decode_errors,
            }
        return result


class _AuCounter:
    """Counts of +1 / -1 / 0 per label position of an ``au`` feature."""

    def __init__(self):
        self.positive: np.ndarray | None = None
        self.negative: np.ndarray | None = None
        self.unknown: np.ndarray | None = None
        self.records = 0
        self.invalid_values = 0
        self.length_mismatches = 0
        self.encodings: Counter = Counter()

    def update(self, feature) -> None:
        parsed = au_vector(feature)
        if parsed is None:
            return
        values, encoding = parsed
        self.encodings[encoding] += 1
        if self.positive is None:
            self.positive, self.negative, self.unknown = (np.zeros(values.size, np.int64) for _ in range(3))
        if values.size != self.positive.size:
            self.length_mismatches += 1
            return
        self.records += 1
        self.positive += values == 1
        self.negative += values == -1
        self.unknown += values == 0
        self.invalid_values += int(np.count_nonzero(~np.isin(values, (-1, 0, 1))))

    def merge(self, other: _AuCounter) -> None:
        if other.positive is None:
            return
        if self.positive is None:
            self.positive, self.negative, self.unknown = (np.zeros_like(other.positive) for _ in range(3))
        if other.positive.size != self.positive.size:
            self.length_mismatches += other.records + other.length_mismatches
            return
        self.positive += other.positive
        self.negative += other.negative
        self.unknown += other.unknown
        self.records += other.records
        self.invalid_values += other.invalid_values
        self.length_mismatches += other.length_mismatches
        self.encodings.update(other.encodings)

    def to_dict(self) -> dict | None:
        if self.positive is None:
            return None
        known = self.positive + self.negative
        total_known = int(known.sum())
        cells = self.records * self.positive.size
        return {
            "records": self.records,
            "positions": int(self.positive.size),
            "encoding": counter_text(self.encodings),
            "positive_rate": [(int(p) / int(k) if k else None) for p, k in zip(self.positive, known, strict=True)],
            "unknown_rate": [(int(u) / self.records if self.records else None) for u in self.unknown],
            "positive": self.positive.tolist(),
            "negative": self.negative.tolist(),
            "unknown": self.unknown.tolist(),
            "overall": {
                "positive_rate": int(self.positive.sum()) / total_known if total_known else None,
                "unknown_rate": int(self.unknown.sum()) / cells if cells else None,
            },
            "invalid_values": self.invalid_values,
            "length_mismatches": self.length_mismatches,
        }


def inspect_files(
    paths: PathsLike, sample: int | None = DEFAULT_INSPECT_SAMPLE, au_key: str = "au", decode_images: bool = True
) -> dict:
    """Describe TFRecord files of `tf.train.Example`: counts, features, images, AU base rates.

    Every file's records are counted by walking its framing (see
    `tfrecords_tools.framing.iter_frames`; data CRCs are not checked, run
    `verify_files` for that). The first `sample` records of each file are
    parsed, and for every feature key the summary gives its kind
    (``bytes_list`` / ``float_list`` / ``int64_list``), in how many sampled
    records it appears, the min/max number of values per record (for a TFDS
    ``Tensor(shape=(10,))`` both are 10), for bytes the min/max value length,
    and for values starting with PNG/JPEG/GIF magic bytes the decoded shapes and
    dtypes. If a feature named `au_key` exists, its values (int64/float list,
    or bytes read as int8) are counted per position: ``positive_rate`` is the
    share of +1 among known (+1/-1) labels, ``unknown_rate`` the share of 0.

    Args:
        paths: file, glob, folder, or a list of them.
        sample: int or None. Records parsed per file; None or 0 parses all.
        au_key: str. Name of the label feature.
        decode_images: bool. Decode image bytes to report shapes (False only
            detects the format).

    Returns:
        dict: ``{"files": [per file], "total": {...}}``. Each per-file dict has
        ``path``, ``compression``, ``records``, ``sampled``, ``error`` (None or
        a one-line description of the first framing/parse problem),
        ``features`` ({key: summary}) and ``au`` (base rates or None). The total
        has ``files``, ``records``, ``sampled``, ``errors`` and the merged
        ``features`` and ``au``.

    Raises:
        tfrecords_tools.InputPathError: a path does not exist or holds no TFRecord file.

    Example:
        report = inspect_files("data/tiny_au/1.0.0")
        report["total"]["records"], report["total"]["au"]["positive_rate"]
    """
    files = resolve_paths(paths)
    limit = None if not sample else int(sample)
    results, total_features, total_au = [], {}, _AuCounter()
    for path in files:
        scan = scan_file(path)
        features: dict[str, _FeatureSummary] = {}
        au = _AuCounter()
        sampled, error = 0, scan.error_text
        count = scan.records if limit is None else min(limit, scan.records)
        for index, data in read_records(scan, range(count)):
            try:
                example = parse_example(data)
            except Exception as exc:  # google.protobuf.message.DecodeError
                error = error or f"record {index} at byte {scan.offsets[index]}: not a tf.train.Example ({exc})"
                continue
            sampled += 1
            for key, feature in example.features.feature.items():
                features.setdefault(key, _FeatureSummary()).update(feature, decode=decode_images)
                if key == au_key:
                    au.update(feature)
        for key, summary in features.items():
            total_features.setdefault(key, _FeatureSummary()).merge(summary)
        total_au.merge(au)
        results.append(
            {
                "path": path,
                "compression": compression_of(path),
                "records": scan.records,
                "sampled": sampled,
                "error": error,
                "features": {key: features[key].to_dict() for key in sorted(features)},
                "au": au.to_dict(),
            }
        )
    total = {
        "files": len(results),
        "records": sum(r["records"] for r in results),
        "sampled": sum(r["sampled"] for r in results),
        "errors": sum(r["error"] is not None for r in results),
        "features": {key: total_features[key].to_dict() for key in sorted(total_features)},
        "au": total_au.to_dict(),
    }
    return {"files": results, "total": total}
