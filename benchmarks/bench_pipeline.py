"""Speed of the input pipeline (`aufera.data.pipeline`): images/s delivered, steady state.

Measures, with batch 64 and augmentation on and off, on all frames (`--split train+validation`):

- tfds: `make_dataset` without cache (PNG decoded every epoch);
- cached: `make_dataset(cache=True)`, epochs after the first (decoded uint8
  images kept in memory);
- arrays: `load_split_arrays` once, then `dataset_from_arrays`.

Each configuration runs `--epochs` epochs (shuffled, as in training); the
first epoch is a warm-up (tracing, filling the cache) and the figure is the
images/s of the remaining epochs. Without `--data`, the default synthetic
corpus (`SynthConfig()`, 7,920 frames) is written and prepared in a
temporary folder first.

    python benchmarks/bench_pipeline.py [--data PREPARED_DATASET_DIR] [--epochs 4] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from aufera.data.pipeline import dataset_from_arrays, load_dataset_info, load_split_arrays, make_dataset  # noqa: E402


def prepared_default(tmp: Path) -> Path:
    from aufera.data.prepare import prepare
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    write_corpus(tmp / "corpus", SynthConfig(), workers=os.cpu_count() or 1, progress=False)
    return Path(prepare(tmp / "corpus", tmp / "data", workers=os.cpu_count() or 1, progress=False)["dataset"])


def images_per_second(ds: tf.data.Dataset, epochs: int) -> tuple[float, float]:
    """Iterates `epochs` epochs; returns (first-epoch images/s, images/s over the later epochs)."""
    rates = []
    for _ in range(epochs):
        start, n = time.perf_counter(), 0
        for images, _labels in ds:
            n += int(images.shape[0])
        rates.append((n, time.perf_counter() - start))
    later = rates[1:] or rates
    return rates[0][0] / rates[0][1], sum(n for n, _ in later) / sum(t for _, t in later)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a prepared dataset (TFDS version folder); default: prepare the default corpus")
    parser.add_argument("--split", default="train+validation")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.data) if args.data else prepared_default(Path(tmp))
        info = load_dataset_info(path)
        print(f"dataset: {path}; split {args.split}; images {info.image_shape}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; TF {tf.__version__}")
        start = time.perf_counter()
        arrays = load_split_arrays(info, args.split)
        load_s = time.perf_counter() - start
        print(
            f"load_split_arrays: {len(arrays)} images in {load_s:.1f} s ({len(arrays) / load_s:.0f} images/s), {arrays.nbytes / 2**20:.0f} MiB"
        )
        print(f"{'path':<8} {'augment':<8} {'epoch 1 img/s':>14} {'steady img/s':>13}")
        for augment in (False, True):
            routes = {
                "tfds": lambda a=augment: make_dataset(info, args.split, args.batch_size, True, seed=0, augment=a),
                "cached": lambda a=augment: make_dataset(
                    info, args.split, args.batch_size, True, seed=0, augment=a, cache=True
                ),
                "arrays": lambda a=augment: dataset_from_arrays(arrays, None, args.batch_size, True, seed=0, augment=a),
            }
            for name, build in routes.items():
                first, steady = images_per_second(build(), args.epochs)
                print(f"{name:<8} {'on' if augment else 'off':<8} {first:>14.0f} {steady:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
