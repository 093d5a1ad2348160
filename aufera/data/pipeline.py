"""tf.data input pipelines from the prepared dataset (decode, [0, 1], mean removal, augmentation).

He et al. 2019 (Sec. 4.2) normalise pixel values to [0, 1] and subtract the
mean image of the training part from training and test images alike. Here
that is

    x = image / 255 - mean_image / 255

with `mean_image` the training-split mean stored beside the shards by
`aufera prepare` (`mean_image.npy`, pixel values 0-255).

Two routes give the same batches:

- `make_dataset`: reads the TFDS shards. Records are decoded (PNG -> uint8)
  in one step and transformed in another (STYLE item 7): read, filter
  subjects, decode, [cache], [shuffle], [repeat], batch, transform, prefetch.
- `load_split_arrays` + `dataset_from_arrays`: loads a split into numpy
  arrays once (uint8 images) and builds batches by gathering rows from
  memory, in order, shuffled, from a subset of rows, or from a batch plan
  (the samplers of `aufera.sampling`).

The transform works on whole batches (one vectorised op per batch instead of
one per image), and every `.map()` runs with `num_parallel_calls=AUTOTUNE`.
Outputs suit Keras `fit`: `(image, {"au": au, "view": view})` for Network1,
`(image, {"au": au})` for Network2, with `image` float32 (B, H, W, 1), `au`
float32 (B, 10) in {-1, 0, +1} and `view` int32 (B,).

Determinism: with a seed, the order (seeded shuffles) and the augmentation
(stateless random ops whose seeds come from a seeded `Dataset.random` stream,
one seed per batch) are the same in every run, and
`tf.data.Options().deterministic` is on. With the same seed, the same shuffle
buffer and `shuffle_files=False`, `make_dataset` and `dataset_from_arrays`
give identical batches.

References:
    He, Li, Bo, Yu 2019, "Facial Action Unit Detection with Multilayer Fused
    Multi-Task and Multi-Label Deep Learning Network", KSII TIIS, Sec. 4.2
    (pre-processing), Fig. 6.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from aufera.au import NUM_AUS
from aufera.data.augmentation import Augmentation
from aufera.errors import AuferaError
from aufera.filenames import MEAN_FILE, PREPARE_REPORT_JSON, TFDS_INFO_FILE

TARGETS = ("network1", "network2", "drml", "chu_cnn")  # all but "network1": the AU labels only
DEFAULT_SCALE = 1.0 / 255.0  # the `scale` of every model preset's preprocessing today: uint8 -> [0, 1]
DEFAULT_SHUFFLE_BUFFER = 10_000


# === Dataset info ===


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A prepared dataset opened for reading.

    Args:
        path: Path. The TFDS version folder (e.g. `OUT/fera2017/132/1.0.0`).
        builder: the `tfds` builder read from that folder.
        mean: np.ndarray. float32 (H, W, 1), the training-split mean image,
            pixel values 0-255.
        image_shape: tuple. (H, W, 1).
        num_examples: dict. Examples per split name.
        subjects: dict or None. Subjects per split (from the prepare report),
            or None when the report is absent.
    """

    path: Path
    builder: object
    mean: np.ndarray
    image_shape: tuple
    num_examples: dict
    subjects: dict | None

    @property
    def mean01(self) -> np.ndarray:
        """The mean image scaled to [0, 1] (float32), as subtracted by the transform."""
        return scale_mean(self.mean)


def load_dataset_info(path) -> DatasetInfo:
    """Opens a prepared dataset folder and its training mean image.

    Args:
        path: str or Path. The TFDS version folder written by `aufera prepare`
            (the path it prints, e.g. `OUT/fera2017/132/1.0.0`), or a
            `DatasetInfo` (returned unchanged).

    Returns:
        A `DatasetInfo`.

    Raises:
        AuferaError: naming the path, when the folder is not a prepared
            dataset, or the mean image is missing or of the wrong shape.

    Examples:

    ```python
    info = load_dataset_info("OUT/fera2017/132/1.0.0")
    info.num_examples  # {"train": ..., "validation": ...}
    ```
    """
    if isinstance(path, DatasetInfo):
        return path
    import tensorflow_datasets as tfds

    path = Path(path)
    if not (path / TFDS_INFO_FILE).is_file():
        found = sorted(str(p.parent) for p in path.glob(f"*/*/*/{TFDS_INFO_FILE}")) if path.is_dir() else []
        hint = f"; did you mean {found[0]}?" if found else "; pass the folder `aufera prepare` printed"
        raise AuferaError(f"{path}: not a prepared aufera dataset (no {TFDS_INFO_FILE}){hint}")
    try:
        builder = tfds.builder_from_directory(str(path))
        features = builder.info.features
        image_shape = tuple(int(d) for d in features["image"].shape)
        num_examples = {name: int(split.num_examples) for name, split in builder.info.splits.items()}
        missing = {"image", "au", "view", "subject"} - set(features.keys())
    except Exception as error:  # TFDS raises many kinds of error on a damaged folder
        raise AuferaError(f"{path}: not a readable prepared dataset ({type(error).__name__}: {error})") from error
    if missing:
        raise AuferaError(f"{path}: not a prepared aufera dataset (features {sorted(missing)} missing)")
    mean_path = path / MEAN_FILE
    if not mean_path.is_file():
        raise AuferaError(f"{mean_path}: the training mean image is missing; rerun `aufera prepare` on this dataset")
    try:
        mean = np.load(mean_path).astype(np.float32)
    except (OSError, ValueError) as error:
        raise AuferaError(f"{mean_path}: unreadable mean image ({error})") from error
    if mean.shape != image_shape:
        raise AuferaError(f"{mean_path}: mean image of shape {mean.shape}, the images are {image_shape}")
    subjects = None
    report = path / PREPARE_REPORT_JSON
    if report.is_file():
        try:
            splits = json.loads(report.read_text())["splits"]
            subjects = {name: sorted(s["frames_per_subject"]) for name, s in splits.items()}
        except (ValueError, KeyError, TypeError):
            subjects = None  # the report is informative only; the shards are the data
    return DatasetInfo(path, builder, mean, image_shape, num_examples, subjects)


def scale_mean(mean, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """The mean image (pixel values 0-255) on the model's scale (multiplied by `scale`; [0, 1] by default), float32."""
    return (np.asarray(mean, np.float32) / _divisor(scale)).astype(np.float32)


def _divisor(scale: float) -> np.float32:
    # Dividing by 255 rather than multiplying by 1/255 keeps the values bit for bit those of x / 255.
    return np.float32(1.0 / float(scale))


# === Augmentation ===


def resolve_augmentation(augment, training: bool) -> Augmentation | None:
    """`None` -> default augmentation when training, none otherwise; True/False; or an `Augmentation`."""
    if augment is None:
        augment = training
    if augment is True:
        augment = Augmentation()
    if augment is False:
        return None
    if not isinstance(augment, Augmentation):
        raise ValueError(f"`augment` must be None, a bool or an Augmentation. Received: augment={augment!r}")
    return augment if augment.active else None


def _crop_batch(x, seeds, height: int, width: int):
    """A `height` x `width` crop of every image of `x` (B, H, W, 1) at its own random offset.

    Gathers whole rows per image (fast contiguous copies), once for the rows
    and once, after a transpose, for the columns: about twice as fast as
    gathering single pixels.
    """
    batch = tf.shape(x)[0]
    spans = (x.shape[1] - height + 1, x.shape[2] - width + 1)
    if spans[0] != spans[1]:
        raise ValueError(f"Random crops need as many row as column offsets. Received: {x.shape} -> {height}x{width}")
    offsets = tf.random.stateless_uniform([2, batch], seed=seeds, minval=0, maxval=spans[0], dtype=tf.int32)
    rows = offsets[0][:, None] + tf.range(height)[None, :]
    x = tf.transpose(tf.gather(x[..., 0], rows, axis=1, batch_dims=1), [0, 2, 1])
    cols = offsets[1][:, None] + tf.range(width)[None, :]
    x = tf.transpose(tf.gather(x, cols, axis=1, batch_dims=1), [0, 2, 1])
    return x[..., None]


def _shift_batch(x, seeds, max_shift: int):
    """Shifts every image of `x` (B, H, W, 1) by its own offset in [-max_shift, max_shift], filling with zeros."""
    height, width = x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    return _crop_batch(padded, seeds, height, width)


def _centre_crop(x, size: int):
    """The centre `size` x `size` crop of every image of `x` (B, H, W, C) (the top-left one of two equal centres)."""
    top, left = (x.shape[1] - size) // 2, (x.shape[2] - size) // 2
    return x[:, top : top + size, left : left + size, :]


def _augment_batch(x01, view, seed, augment: Augmentation):
    """Flip, contrast and brightness on [0, 1] images (before mean removal); returns images, views, shift seed."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    batch = tf.shape(x01)[0]
    if augment.flip:
        flip = tf.random.stateless_uniform([batch], seed=seeds[0]) < 0.5
        x01 = tf.where(flip[:, None, None, None], tf.reverse(x01, axis=[2]), x01)
        yaw = view % 3
        view = tf.where(flip, view - yaw + (2 - yaw), view)
    if augment.max_contrast > 0:
        factor = tf.random.stateless_uniform(
            [batch, 1, 1, 1], seed=seeds[3], minval=1.0 - augment.max_contrast, maxval=1.0 + augment.max_contrast
        )
        centre = tf.reduce_mean(x01, axis=[1, 2, 3], keepdims=True)
        x01 = tf.clip_by_value(centre + factor * (x01 - centre), 0.0, 1.0)
    if augment.max_brightness > 0:
        delta = tf.random.stateless_uniform(
            [batch, 1, 1, 1], seed=seeds[1], minval=-augment.max_brightness, maxval=augment.max_brightness
        )
        x01 = tf.clip_by_value(x01 + delta, 0.0, 1.0)
    return x01, view, seeds[2]


# === Decode, then transform ===


def decode_example(example: dict, image_shape, keep_meta: bool = False) -> dict:
    """Decodes one record read with the image left encoded: PNG -> uint8 (H, W, 1).

    Returns `{"image": uint8, "au": int8 (10,), "view": int32}`, plus
    `subject`, `task` (string) and `frame` (int64) when `keep_meta`.
    """
    image = tf.io.decode_png(example["image"], channels=1, dtype=tf.uint8)
    image = tf.ensure_shape(image, image_shape)
    out = {"image": image, "au": example["au"], "view": tf.cast(example["view"], tf.int32)}
    if keep_meta:
        out.update(subject=example["subject"], task=example["task"], frame=example["frame"])
    return out


def _check_crop_size(crop_size, image_shape) -> int | None:
    if crop_size is None:
        return None
    side = min(int(image_shape[0]), int(image_shape[1]))
    if isinstance(crop_size, bool) or int(crop_size) != crop_size or not 1 <= crop_size <= side:
        raise ValueError(f"`crop_size` must be an integer in [1, {side}]. Received: crop_size={crop_size!r}")
    return None if crop_size == side and image_shape[0] == image_shape[1] else int(crop_size)


def make_transform(
    mean,
    targets: str = "network1",
    augment: Augmentation | None = None,
    scale: float = DEFAULT_SCALE,
    crop_size: int | None = None,
):
    """The batch transform: uint8 batch -> (normalised float32 images, Keras targets).

    `x = image * scale - mean * scale` (He et al. 2019, Sec. 4.2, with the
    model preset's `scale` of 1/255: [0, 1]), with optional augmentation
    (`Augmentation`, whose brightness and contrast clip to [0, 1]). With
    `crop_size`, the normalised images are then cut to `crop_size` squares:
    at a random place per image when augmenting (DRML's paper configs train
    on random 170 crops of 200-px faces), in the centre otherwise
    (evaluation, and training without augmentation). The
    returned function takes a batch dict (`image` uint8 (B, H, W, 1), `au`,
    `view`) and, when `augment` is given, a stateless seed of shape (2,).

    Targets: "network1" `{"au", "view"}`; "network2" and "drml" `{"au"}`.
    """
    if targets not in TARGETS:
        raise ValueError(f"`targets` must be one of {TARGETS}. Received: targets={targets!r}")
    if not float(scale) > 0.0:
        raise ValueError(f"`scale` must be positive. Received: scale={scale!r}")
    crop_size = _check_crop_size(crop_size, np.shape(mean))
    mean01 = tf.constant(scale_mean(mean, scale))
    divisor = float(_divisor(scale))

    def transform(batch: dict, seed=None):
        x01 = tf.cast(batch["image"], tf.float32) / divisor
        view = batch["view"]
        shift_seed = None
        if augment is not None:
            x01, view, shift_seed = _augment_batch(x01, view, seed, augment)
        x = x01 - mean01
        if augment is not None and augment.max_shift > 0:
            x = _shift_batch(x, shift_seed, augment.max_shift)
        if crop_size is not None:
            if augment is not None:
                crop_seed = tf.random.experimental.stateless_fold_in(shift_seed, 1)
                x = _crop_batch(x, crop_seed, crop_size, crop_size)
            else:
                x = _centre_crop(x, crop_size)
        labels = {"au": tf.cast(batch["au"], tf.float32)}
        if targets == "network1":
            labels["view"] = tf.cast(view, tf.int32)
        return x, labels

    return transform


def _options(deterministic: bool) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return options


def _finish(ds, transform, augment, seed, deterministic):
    """Shared tail: [zip per-batch seeds], transform, prefetch, options."""
    if augment is not None:
        # One stateless seed per batch from a seeded stream, re-drawn every
        # epoch: the augmentation does not depend on map parallelism.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options(deterministic))


def _check_batch_size(batch_size) -> int:
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    return int(batch_size)


def _split_names(split: str) -> list[str]:
    """Base split names of a TFDS split string, e.g. "train[:50%]+validation" -> ["train", "validation"]."""
    return [re.sub(r"\[.*\]$", "", part.strip()) for part in str(split).split("+")]


def _check_split(info: DatasetInfo, split: str) -> None:
    unknown = [name for name in _split_names(split) if name not in info.num_examples]
    if unknown:
        raise AuferaError(f"{info.path}: no split {unknown[0]!r} (splits: {sorted(info.num_examples)})")


def _subject_list(values, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str | bytes):
        values = [values]
    values = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    if not values and what == "subjects":
        raise ValueError(f"`subjects` must name at least one subject. Received: subjects={values!r}")
    return values


def _check_subjects(info: DatasetInfo, split: str, names: list[str] | None, what: str) -> None:
    """Unknown subject names are an error when the prepare report lists the split's subjects."""
    if not names or info.subjects is None:
        return
    known = set()
    for name in _split_names(split):
        known.update(info.subjects.get(name, ()))
    unknown = sorted(set(names) - known)
    if unknown:
        raise AuferaError(f"{info.path}: {what} {unknown} not in split {split!r} (subjects: {sorted(known)})")


def _check_selection(info: DatasetInfo, split: str, subjects, exclude_subjects) -> tuple:
    """Checks a split and a choice of subjects against the dataset; returns the subject lists (or None)."""
    _check_split(info, split)
    subjects = _subject_list(subjects, "subjects")
    exclude_subjects = _subject_list(exclude_subjects, "exclude_subjects")
    _check_subjects(info, split, subjects, "subjects")
    _check_subjects(info, split, exclude_subjects, "exclude_subjects")
    return subjects, exclude_subjects


def _subject_filter(subjects, exclude_subjects):
    include = None if subjects is None else tf.constant(subjects, tf.string)
    exclude = None if not exclude_subjects else tf.constant(exclude_subjects, tf.string)

    def keep(example):
        subject = example["subject"]
        ok = tf.constant(True)
        if include is not None:
            ok = tf.reduce_any(tf.equal(subject, include))
        if exclude is not None:
            ok = tf.logical_and(ok, tf.logical_not(tf.reduce_any(tf.equal(subject, exclude))))
        return ok

    return keep


def _read(info: DatasetInfo, split: str, shuffle_files: bool, seed, subjects, exclude_subjects):
    """Records of a split with the image left PNG-encoded, filtered by subject (before any decoding)."""
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=16 if shuffle_files else 1)
    ds = info.builder.as_dataset(
        split=split,
        shuffle_files=shuffle_files,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=read_config,
    )
    if subjects is not None or exclude_subjects:
        ds = ds.filter(_subject_filter(subjects, exclude_subjects))
    return ds


# === The TFDS route ===


def make_dataset(
    path,
    split: str = "train",
    batch_size: int = 64,
    training: bool = False,
    seed: int | None = None,
    subjects: Iterable[str] | None = None,
    exclude_subjects: Iterable[str] | None = None,
    augment: bool | Augmentation | None = None,
    cache: bool | str = False,
    targets: str = "network1",
    shuffle: bool | None = None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    shuffle_files: bool | None = None,
    repeat: bool | int = False,
    drop_remainder: bool = False,
    deterministic: bool | None = None,
    scale: float = DEFAULT_SCALE,
    crop_size: int | None = None,
) -> tf.data.Dataset:
    """A tf.data pipeline of normalised (and, for training, augmented) batches from the TFDS shards.

    Steps: read the split with the PNG left encoded, keep the chosen subjects,
    decode (PNG -> uint8), [cache the decoded images], [shuffle], [repeat],
    batch, transform (`x = image / 255 - mean / 255`, augmentation), prefetch.

    Args:
        path: str, Path or DatasetInfo. The prepared dataset (TFDS version folder).
        split: str. A TFDS split ("train", "validation", "train+validation",
            "train[:10%]"). Defaults to "train".
        batch_size: int. Defaults to 64.
        training: bool. Shuffles and augments by default. Defaults to False.
        seed: int or None. Seeds the shuffles and the augmentation; with a
            seed, every run gives the same batches. Defaults to None.
        subjects: list of str or None. Keep only these subjects (a fold's
            subjects). Defaults to None (all).
        exclude_subjects: list of str or None. Drop these subjects. Defaults to None.
        augment: None, bool or Augmentation. None: `Augmentation()` when
            training, none otherwise. Defaults to None.
        cache: bool or str. True: keep the decoded uint8 images in memory
            after the first epoch, so later epochs skip PNG decoding (about
            H*W bytes per image: 17 kB at 132 px); a str caches to that file
            prefix instead. Defaults to False.
        targets: str. "network1": `(image, {"au", "view"})`; "network2":
            `(image, {"au"})`. Defaults to "network1".
        shuffle: bool or None. Defaults to `training`.
        shuffle_buffer: int. Elements in the shuffle buffer. Defaults to 10,000.
        shuffle_files: bool or None. Read the shards in a (seeded) random
            order. Defaults to `shuffle`.
        repeat: bool or int. True repeats forever, an int that many times
            (after shuffling, so batches run across epochs). Defaults to False.
        drop_remainder: bool. Drop the last partial batch. Defaults to False.
        deterministic: bool or None. `tf.data.Options().deterministic`;
            None: on unless training without a seed. Defaults to None.
        scale: float. Pixel scale, the model preset's `preprocessing.scale`
            (`aufera.preprocessing`). Defaults to 1/255.
        crop_size: int or None. Cut the images to squares of this side:
            random crops when augmenting, the centre crop otherwise (the
            model preset's `Preprocessing.crop_size`). Defaults to None.

    Returns:
        A `tf.data.Dataset` of `(image float32 (B, H, W, 1), targets)` with
        `au` float32 (B, 10) in {-1, 0, +1} and `view` int32 (B,).

    Raises:
        AuferaError: on a folder that is not a prepared dataset, an unknown
            split, or (when the prepare report lists them) unknown subjects.

    Examples:

    ```python
    train = make_dataset(path, "train", 64, training=True, seed=0, exclude_subjects=["F001"])
    network1.compile(optimizer="adam", **aufera.losses.network1_losses())
    network1.fit(train, validation_data=make_dataset(path, "validation", 64), epochs=10)
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 4.2 (pixel values in [0, 1], training mean
        subtracted from training and test images).
    """
    info = load_dataset_info(path)
    batch_size = _check_batch_size(batch_size)
    subjects, exclude_subjects = _check_selection(info, split, subjects, exclude_subjects)
    augment = resolve_augmentation(augment, training)
    transform = make_transform(info.mean, targets, augment, scale, crop_size)
    shuffle = training if shuffle is None else bool(shuffle)
    shuffle_files = shuffle if shuffle_files is None else bool(shuffle_files)
    if deterministic is None:
        deterministic = seed is not None or not training

    ds = _read(info, split, shuffle_files, seed, subjects, exclude_subjects)
    shape = info.image_shape
    ds = ds.map(lambda example: decode_example(example, shape), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(str(cache))
    if shuffle:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = _repeat(ds, repeat)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return _finish(ds, transform, augment, seed, deterministic)


def _repeat(ds, repeat):
    if repeat is True:
        return ds.repeat()
    if repeat:
        return ds.repeat(int(repeat))
    return ds


# === The in-memory route ===


@dataclasses.dataclass
class SplitArrays:
    """One split (or part of it) in memory, rows in the order of the shards.

    Args:
        image: np.ndarray. uint8 (N, H, W, 1).
        au: np.ndarray. int8 (N, 10) in {-1, 0, +1}.
        view: np.ndarray. int32 (N,), 0-8.
        subject: np.ndarray. str (N,).
        task: np.ndarray. str (N,).
        frame: np.ndarray. int64 (N,).
        mean: np.ndarray. float32 (H, W, 1), the training mean, pixel values 0-255.
    """

    image: np.ndarray
    au: np.ndarray
    view: np.ndarray
    subject: np.ndarray
    task: np.ndarray
    frame: np.ndarray
    mean: np.ndarray

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (images dominate: H*W bytes each)."""
        return sum(getattr(self, f.name).nbytes for f in dataclasses.fields(self))

    def select(self, rows) -> SplitArrays:
        """The rows `rows` (indices or a boolean mask) as a new `SplitArrays` (copies)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return SplitArrays(**{k: v if k == "mean" else v[rows] for k, v in fields.items()})

    def subject_rows(self, subjects=None, exclude_subjects=None) -> np.ndarray:
        """Indices of the rows whose subject is in `subjects` (all if None) and not in `exclude_subjects`."""
        keep = np.ones(len(self), bool)
        if subjects is not None:
            keep &= np.isin(self.subject, _subject_list(subjects, "subjects"))
        if exclude_subjects:
            keep &= ~np.isin(self.subject, _subject_list(exclude_subjects, "exclude_subjects"))
        return np.flatnonzero(keep)


def load_split_arrays(
    path,
    split: str = "train",
    subjects: Iterable[str] | None = None,
    exclude_subjects: Iterable[str] | None = None,
    read_batch: int = 1024,
) -> SplitArrays:
    """Loads a split into numpy arrays once (PNG decoded), rows in the order of the shards.

    Memory: H*W bytes per image (17,424 at 132 px: about 138 MB for the 7,920
    frames of the default synthetic corpus, about 35 GB for the 2 million
    frames of FERA 2017, where a subject subset or the TFDS route with a
    file cache is the better choice). The arrays are filled in place; with a
    subject filter the kept rows are copied once at the end.

    Args:
        path: str, Path or DatasetInfo. The prepared dataset.
        split: str. A TFDS split. Defaults to "train".
        subjects: list of str or None. Keep only these subjects. Defaults to None.
        exclude_subjects: list of str or None. Drop these. Defaults to None.
        read_batch: int. Records decoded per step. Defaults to 1024.

    Returns:
        A `SplitArrays`.

    Raises:
        AuferaError: a damaged record (a shard cut short, a flipped byte, a
            record that does not decode), naming the shard, the record and
            the byte where it starts (`damaged_record_error`).

    Examples:

    ```python
    arrays = load_split_arrays(path, "train", exclude_subjects=fold_test_subjects)
    train = dataset_from_arrays(arrays, arrays.mean, 64, training=True, seed=0)
    ```
    """
    info = load_dataset_info(path)
    subjects, exclude_subjects = _check_selection(info, split, subjects, exclude_subjects)
    ds = _read(info, split, False, None, subjects, exclude_subjects)
    shape = info.image_shape
    ds = ds.map(lambda example: decode_example(example, shape, keep_meta=True), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(int(read_batch)).prefetch(tf.data.AUTOTUNE)
    # The split size is an upper bound of the rows kept: fill in place.
    capacity = sum(info.num_examples[name] for name in _split_names(split))
    image = np.empty((capacity, *shape), np.uint8)
    au = np.empty((capacity, NUM_AUS), np.int8)
    view = np.empty(capacity, np.int32)
    frame = np.empty(capacity, np.int64)
    subject, task = [], []
    n = 0
    try:
        for batch in ds.as_numpy_iterator():
            m = len(batch["view"])
            if n + m > capacity:  # a sliced split ("train[:10%]") is smaller than its split, never larger
                raise AuferaError(f"{info.path}: split {split!r} has more records than its {TFDS_INFO_FILE} says")
            image[n : n + m] = batch["image"]
            au[n : n + m] = batch["au"]
            view[n : n + m] = batch["view"]
            frame[n : n + m] = batch["frame"]
            subject.extend(s.decode() for s in batch["subject"])
            task.extend(t.decode() for t in batch["task"])
            n += m
    except (tf.errors.OpError, UnicodeDecodeError) as error:
        damaged = damaged_record_error(info, split)
        if damaged is None:
            raise
        raise damaged from error
    if n < capacity:
        image, au, view, frame = image[:n].copy(), au[:n].copy(), view[:n].copy(), frame[:n].copy()
    return SplitArrays(
        image=image,
        au=au,
        view=view,
        subject=np.asarray(subject, dtype=str),
        task=np.asarray(task, dtype=str),
        frame=frame.astype(np.int64),
        mean=info.mean,
    )


def split_shards(info: DatasetInfo, split: str) -> list[str]:
    """The TFRecord shards of a split (of each part of e.g. "train+validation"), in the order they are read."""
    shards = []
    for name in _split_names(split):
        shards.extend(str(path) for path in info.builder.info.splits[name].filepaths)
    return list(dict.fromkeys(shards))


def damaged_record_error(info: DatasetInfo, split: str) -> AuferaError | None:
    """Where a split that failed to read is damaged: one line naming the shard, the record and its first byte.

    TensorFlow's `DataLossError` says "corrupted record at N" without the
    file (and N is where the record's data starts, 12 bytes into it); a
    shard cut inside a record header reads as a split shorter than its
    `dataset_info.json` says. Each shard of the split is checked with
    `tfrecords_tools.verify_file` (framing, length and data CRCs, protos),
    which gives the first bad record and the byte where it starts. When
    every record is intact but one does not decode (an image that is not a
    PNG of the dataset's shape), the split is read again one record at a
    time, through the same decoding, to find it.

    Args:
        info: DatasetInfo. The dataset.
        split: str. The split that failed to read.

    Returns:
        An `AuferaError`, or None when no record is found damaged (the
        failure was something else).
    """
    import tfrecords_tools

    hint = "the dataset is damaged: restore this file, or prepare the dataset again into a new --out"
    shards = split_shards(info, split)
    for shard in shards:
        problem = tfrecords_tools.verify_file(shard).problem
        if problem is not None:
            return AuferaError(f"{problem}; {hint}")
    # Framing, CRCs and protos are intact: find the record that does not decode.
    whole = "+".join(dict.fromkeys(_split_names(split)))  # whole splits: record k is the k-th of their shards
    ds = _read(info, whole, False, None, None, None)
    # In order (deterministic), so the k-th element read is the k-th record, the failing one included.
    ds = ds.map(
        lambda example: decode_example(example, info.image_shape, keep_meta=True),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    index = 0
    try:
        for example in ds.as_numpy_iterator():
            example["subject"].decode(), example["task"].decode()
            index += 1
        return None
    except (tf.errors.OpError, UnicodeDecodeError) as error:
        reason = " ".join(str(getattr(error, "message", error)).split())
        reason = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", reason).split(" [[", 1)[0].split(" [Op:", 1)[0]
        reason = re.sub(r"^Error in user-defined function passed to .*? with iterator: \S+: ", "", reason)
    for shard in shards:
        for frame in tfrecords_tools.iter_frames(shard):
            if index == 0:
                where = f"corrupt at byte {frame.offset} (record {frame.index})"
                return AuferaError(f"{shard}: {where}: the record does not decode ({reason}); {hint}")
            index -= 1
    return None


def dataset_from_arrays(
    arrays: SplitArrays,
    mean=None,
    batch_size: int = 64,
    training: bool = False,
    seed: int | None = None,
    augment: bool | Augmentation | None = None,
    targets: str = "network1",
    shuffle: bool | None = None,
    shuffle_buffer: int | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
    batch_plan: Sequence[Sequence[int]] | np.ndarray | None = None,
    repeat: bool | int = False,
    drop_remainder: bool = False,
    deterministic: bool | None = None,
    scale: float = DEFAULT_SCALE,
    crop_size: int | None = None,
) -> tf.data.Dataset:
    """The batches of `make_dataset`, gathered from arrays in memory.

    Rows are taken in order, shuffled (seeded shuffle of row indices), from
    `indices` only, or as given by `batch_plan` (one row-index array per
    batch, e.g. from `aufera.sampling`). Each batch is one gather from the
    in-memory images, then the same transform as `make_dataset`.

    With the same `seed`, `shuffle_buffer` and rows, the order and the
    augmentation equal those of `make_dataset(..., shuffle_files=False)`.

    Args:
        arrays: SplitArrays. From `load_split_arrays`.
        mean: np.ndarray or None. The training mean (0-255); None uses
            `arrays.mean`. Defaults to None.
        batch_size: int. Ignored with `batch_plan`. Defaults to 64.
        training: bool. Shuffles and augments by default. Defaults to False.
        seed: int or None. Seeds shuffling and augmentation. Defaults to None.
        augment: None, bool or Augmentation. As in `make_dataset`. Defaults to None.
        targets: str. "network1" or "network2". Defaults to "network1".
        shuffle: bool or None. Defaults to `training` (ignored with `batch_plan`).
        shuffle_buffer: int or None. None: all rows (a full permutation).
            Defaults to None.
        indices: row indices or None. Use only these rows, in this order
            before shuffling (e.g. `arrays.subject_rows(...)`). Defaults to None.
        batch_plan: 2-D int array or list of index arrays, or None. Each entry
            is one batch's rows, used as given. Defaults to None.
        repeat: bool or int. As in `make_dataset`. Defaults to False.
        drop_remainder: bool. Defaults to False.
        deterministic: bool or None. As in `make_dataset`. Defaults to None.
        scale: float. As in `make_dataset`. Defaults to 1/255.
        crop_size: int or None. As in `make_dataset`. Defaults to None.

    Returns:
        A `tf.data.Dataset` of `(image, targets)` as `make_dataset`.

    Examples:

    ```python
    arrays = load_split_arrays(path, "train")
    rows = arrays.subject_rows(exclude_subjects=["F001"])
    train = dataset_from_arrays(arrays, None, 64, training=True, seed=0, indices=rows, repeat=True)
    ```
    """
    mean = arrays.mean if mean is None else np.asarray(mean, np.float32)
    if mean.shape != arrays.image.shape[1:]:
        raise ValueError(f"`mean` must have the image shape {arrays.image.shape[1:]}. Received: shape={mean.shape}")
    augment = resolve_augmentation(augment, training)
    transform = make_transform(mean, targets, augment, scale, crop_size)
    if deterministic is None:
        deterministic = seed is not None or not training
    n = len(arrays)
    # The arrays are captured by reference in the map function, not copied into the graph.
    images = tf.convert_to_tensor(arrays.image)
    au = tf.convert_to_tensor(arrays.au)
    view = tf.convert_to_tensor(arrays.view.astype(np.int32, copy=False))

    if batch_plan is not None:
        plan = [np.asarray(rows, np.int64) for rows in batch_plan]
        bad = [int(r.max()) for r in plan if r.size and (r.max() >= n or r.min() < 0)]
        if bad:
            raise ValueError(f"`batch_plan` rows must be in [0, {n}). Received: row {bad[0]}")
        if plan and len({len(r) for r in plan}) == 1:
            ds = tf.data.Dataset.from_tensor_slices(np.stack(plan))
        else:
            ragged = tf.RaggedTensor.from_row_lengths(
                np.concatenate(plan) if plan else np.zeros(0, np.int64), [len(r) for r in plan]
            )
            ds = tf.data.Dataset.from_tensor_slices(ragged)
        ds = _repeat(ds, repeat)
    else:
        batch_size = _check_batch_size(batch_size)
        rows = np.arange(n, dtype=np.int64) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        if rows.size and (rows.max() >= n or rows.min() < 0):
            raise ValueError(f"`indices` must be in [0, {n}). Received: max={rows.max()}, min={rows.min()}")
        ds = tf.data.Dataset.from_tensor_slices(rows)
        if training if shuffle is None else shuffle:
            buffer = len(rows) if shuffle_buffer is None else int(shuffle_buffer)
            ds = ds.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
        ds = _repeat(ds, repeat)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def gather(rows):
        return {"image": tf.gather(images, rows), "au": tf.gather(au, rows), "view": tf.gather(view, rows)}

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, transform, augment, seed, deterministic)
