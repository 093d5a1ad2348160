"""`feature_stats`: numeric summaries, small-integer histograms and pixel statistics over a sample."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tfrecords_tools.core import (
    DEFAULT_STATS_SAMPLE,
    MAX_DISTINCT_STRINGS,
    MAX_HISTOGRAM_BINS,
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
from tfrecords_tools.framing import resolve_paths


class _NumericStats:
    """Running count/min/max/mean/std and a small-integer histogram of numeric values."""

    def __init__(self):
        self.kinds: Counter = Counter()
        self.records = 0
        self.count = 0
        self.nan = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.histogram: Counter | None = Counter()  # None once not small-integer

    def update(self, values: np.ndarray, kind: str) -> None:
        self.records += 1
        self.kinds[kind] += 1
        if kind == "float_list":
            self.histogram = None
        if values.size == 0:
            return
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            self.nan += int(values.size - np.count_nonzero(finite))
            values = values[finite]
            if values.size == 0:
                return
        as_float = values.astype(np.float64)
        self.count += int(values.size)
        self.total += float(as_float.sum())
        self.total_sq += float(np.square(as_float).sum())
        low, high = values.min().item(), values.max().item()
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        if self.histogram is not None:
            uniques, counts = np.unique(values, return_counts=True)
            self.histogram.update(dict(zip(uniques.tolist(), counts.tolist(), strict=True)))
            if len(self.histogram) > MAX_HISTOGRAM_BINS:
                self.histogram = None

    def to_dict(self) -> dict:
        mean = self.total / self.count if self.count else None
        std = float(np.sqrt(max(self.total_sq / self.count - mean * mean, 0.0))) if self.count else None
        return {
            "type": "numeric",
            "kind": counter_text(self.kinds),
            "records": self.records,
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": mean,
            "std": std,
            "nan": self.nan,
            "histogram": dict(sorted(self.histogram.items())) if self.histogram is not None else None,
        }


class _ImageStats:
    """Pixel mean/std/min/max over decoded images, overall and per channel."""

    def __init__(self):
        self.images = 0
        self.decode_errors = 0
        self.formats: Counter = Counter()
        self.shapes: Counter = Counter()
        self.dtypes: Counter = Counter()
        self.pixels = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.min: int | None = None
        self.max: int | None = None
        self.channel_sum: np.ndarray | None = None
        self.channel_sq: np.ndarray | None = None
        self.channel_count = 0
        self.mixed_channels = False

    def update(self, value: bytes, fmt: str) -> None:
        self.formats[fmt] += 1
        try:
            image = decode_image(value)
        except Exception:  # tf.errors.InvalidArgumentError
            self.decode_errors += 1
            return
        self.images += 1
        self.shapes[shape_text(image.shape)] += 1
        self.dtypes[str(image.dtype)] += 1
        pixels = image.astype(np.float64).reshape(-1, image.shape[-1])
        self.pixels += pixels.size
        self.total += float(pixels.sum())
        self.total_sq += float(np.square(pixels).sum())
        low, high = int(image.min()), int(image.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        if self.channel_sum is None and not self.mixed_channels:
            self.channel_sum = np.zeros(pixels.shape[1])
            self.channel_sq = np.zeros(pixels.shape[1])
        if self.channel_sum is not None and self.channel_sum.size == pixels.shape[1]:
            self.channel_sum += pixels.sum(axis=0)
            self.channel_sq += np.square(pixels).sum(axis=0)
            self.channel_count += pixels.shape[0]
        else:
            self.mixed_channels, self.channel_sum, self.channel_sq = True, None, None

    def to_dict(self) -> dict:
        mean = self.total / self.pixels if self.pixels else None
        std = float(np.sqrt(max(self.total_sq / self.pixels - mean * mean, 0.0))) if self.pixels else None
        channel_mean = channel_std = None
        if self.channel_sum is not None and self.channel_count:
            channel_mean = self.channel_sum / self.channel_count
            channel_std = np.sqrt(np.maximum(self.channel_sq / self.channel_count - channel_mean**2, 0.0)).tolist()
            channel_mean = channel_mean.tolist()
        return {
            "type": "image",
            "images": self.images,
            "decode_errors": self.decode_errors,
            "formats": dict(self.formats),
            "shapes": dict(self.shapes),
            "dtypes": dict(self.dtypes),
            "pixel_mean": mean,
            "pixel_std": std,
            "pixel_min": self.min,
            "pixel_max": self.max,
            "channel_mean": channel_mean,
            "channel_std": channel_std,
        }


class _BytesStats:
    """Lengths of non-image bytes values, and their distinct values when few and short (e.g. subject ids)."""

    def __init__(self):
        self.records = 0
        self.count = 0
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.total_length = 0
        self.distinct: Counter | None = Counter()

    def update(self, value: bytes) -> None:
        size = len(value)
        self.count += 1
        self.total_length += size
        self.min_length = size if self.min_length is None else min(self.min_length, size)
        self.max_length = size if self.max_length is None else max(self.max_length, size)
        if self.distinct is None:
            return
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or size > 64 or not text.isprintable():
            self.distinct = None
            return
        self.distinct[text] += 1
        if len(self.distinct) > MAX_DISTINCT_STRINGS:
            self.distinct = None

    def to_dict(self) -> dict:
        return {
            "type": "bytes",
            "records": self.records,
            "count": self.count,
            "length": {
                "min": self.min_length,
                "max": self.max_length,
                "mean": self.total_length / self.count if self.count else None,
            },
            "distinct": dict(sorted(self.distinct.items())) if self.distinct else None,
        }


def _evenly_spaced(records: int, quota: int) -> range | list[int]:
    if quota >= records:
        return range(records)
    return sorted({index * records // quota for index in range(quota)})


def _quotas(counts: list[int], sample: int | None) -> list[int]:
    """Split `sample` records over files in proportion to their record counts (largest remainder)."""
    total = sum(counts)
    if not sample or sample >= total:
        return list(counts)
    exact = [sample * c / total for c in counts]
    quotas = [int(e) for e in exact]
    for i in sorted(range(len(counts)), key=lambda i: quotas[i] - exact[i])[: sample - sum(quotas)]:
        quotas[i] += 1
    return quotas


def feature_stats(paths: PathsLike, sample: int | None = DEFAULT_STATS_SAMPLE, au_key: str = "au") -> dict:
    """Numeric summaries per feature over an evenly spaced sample of records from all files.

    The `sample` records are split over the files in proportion to their record
    counts and taken evenly spaced within each file (not just the first ones).
    Per feature key:

    - int64_list / float_list features -> ``type: "numeric"``: number of values
      ``count``, ``min``, ``max``, ``mean``, ``std`` (NaN/inf values counted in
      ``nan`` and left out), and for integer features with at most 32 distinct
      values a ``histogram`` {value: count};
    - the `au_key` feature stored as raw bytes is read as int8 and summarized
      as numeric too (``kind: "bytes (int8)"``);
    - bytes values with PNG/JPEG/GIF magic -> ``type: "image"``: decoded
      ``images``, ``shapes``, ``dtypes``, ``pixel_mean``, ``pixel_std``,
      ``pixel_min``, ``pixel_max`` over all pixels, and per channel
      ``channel_mean`` / ``channel_std``;
    - other bytes -> ``type: "bytes"``: value lengths, and the ``distinct``
      values with counts when there are at most 20 short printable ones.

    Args:
        paths: file, glob, folder, or a list of them.
        sample: int or None. Records used in total; None or 0 uses all.
        au_key: str. Name of the label feature.

    Returns:
        dict: ``{"files", "records", "sampled", "errors": [one line per file
        problem], "features": {key: summary}}``.

    Raises:
        tfrecords_tools.InputPathError: a path does not exist or holds no TFRecord file.
    """
    files = resolve_paths(paths)
    scans = [scan_file(path) for path in files]
    quotas = _quotas([scan.records for scan in scans], sample)
    numeric: dict[str, _NumericStats] = {}
    images: dict[str, _ImageStats] = {}
    strings: dict[str, _BytesStats] = {}
    errors = [f"{scan.path}: {scan.error_text}" for scan in scans if scan.error_text]
    sampled = 0
    for scan, quota in zip(scans, quotas, strict=True):
        for index, data in read_records(scan, _evenly_spaced(scan.records, quota)):
            try:
                example = parse_example(data)
            except Exception as exc:  # google.protobuf.message.DecodeError
                errors.append(f"{scan.path}: record {index}: not a tf.train.Example ({exc})")
                continue
            sampled += 1
            for key, feature in example.features.feature.items():
                kind, values = feature_values(feature)
                if kind in ("int64_list", "float_list") or (kind == "bytes_list" and key == au_key):
                    parsed = au_vector(feature) if key == au_key else (np.asarray(values), kind)
                    vector, source = parsed
                    numeric.setdefault(key, _NumericStats()).update(vector, source)
                elif kind == "bytes_list":
                    counted = False
                    for value in values:
                        fmt = image_format(value)
                        if fmt is not None:
                            images.setdefault(key, _ImageStats()).update(value, fmt)
                        else:
                            stats = strings.setdefault(key, _BytesStats())
                            stats.update(value)
                            if not counted:
                                stats.records += 1
                                counted = True
    features = {}
    for key in sorted(set(numeric) | set(images) | set(strings)):
        if key in images:
            features[key] = images[key].to_dict()
            if key in strings:
                features[key]["non_image_values"] = strings[key].count
        elif key in numeric:
            features[key] = numeric[key].to_dict()
        else:
            features[key] = strings[key].to_dict()
    return {
        "files": len(files),
        "records": sum(scan.records for scan in scans),
        "sampled": sampled,
        "errors": errors,
        "features": features,
    }
