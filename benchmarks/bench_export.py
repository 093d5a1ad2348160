"""Sizes and speed of the serving exports of a preset: Keras, SavedModel and TFLite (milliseconds per crop).

For each preset handle (default: the "cpu-small" architecture; add "paper"
with --presets), writes the SavedModel (`export_preset_saved_model`) and the
TFLite file (`export_preset_tflite`) into a temporary folder, prints their
sizes in MB (10^6 bytes) and times, on batches of random uint8 crops (32 by
default), after warm-up calls:

- keras: `preset.serving_model()` called inside one `tf.function` (no XLA);
- savedmodel: the reloaded SavedModel's `serve` endpoint;
- tflite: the TFLite signature runner with its input resized to the whole
  batch (TensorFlow's `tf.lite.Interpreter`, XNNPACK, `--threads` threads);
- tflite 1-by-1: a second interpreter run on the batch's crops one at a
  time (input of 1 crop), as an app on a phone would.

Built-in architectures have random weights and a zero mean image; here they
get a random mean image (uniform 40-200, as in tests/test_export_preset.py),
so that the inputs are centred as a trained preset's are.

Reports the median over the repeats of (seconds per batch / batch size), in
milliseconds per crop, and the largest difference of the TFLite outputs from
the Keras ones. Results depend on the machine and its load; docs/export.md
records figures measured on a 2-core CPU.

Usage:

    python benchmarks/bench_export.py                                   # cpu-small
    python benchmarks/bench_export.py --presets cpu-small paper --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from aufera.export import export_preset_saved_model, export_preset_tflite  # noqa: E402
from aufera.pretrained import ARCHITECTURES, load_preset  # noqa: E402


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def ms_per_crop(call, batch: int, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / batch


def bench(handle: str, batch: int, repeats: int, warmup: int, threads: int) -> dict:
    preset = load_preset(handle)
    if handle in ARCHITECTURES:  # random weights: a mean image as a trained preset has
        mean = np.random.default_rng(1).uniform(40.0, 200.0, preset.crop_shape).astype(np.float32)
        preset = dataclasses.replace(preset, mean_image=mean)
    crops = np.random.default_rng(0).integers(0, 256, (batch, *preset.crop_shape), dtype=np.uint8)
    row = {"preset": handle, "params": preset.model.count_params(), "crop": "x".join(map(str, preset.crop_shape))}
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        start = time.perf_counter()
        saved = export_preset_saved_model(preset, Path(tmp) / "saved")
        row["savedmodel_s"] = time.perf_counter() - start
        start = time.perf_counter()
        lite = export_preset_tflite(preset, Path(tmp) / "model.tflite")
        row["tflite_s"] = time.perf_counter() - start
        row["savedmodel_mb"], row["tflite_mb"] = size_mb(saved), size_mb(lite)

        model = preset.serving_model()
        keras_fn = tf.function(lambda x: model(x, training=False))
        x = tf.constant(crops)
        expected = {name: value.numpy() for name, value in keras_fn(x).items()}
        row["keras_ms"] = ms_per_crop(lambda: keras_fn(x), batch, repeats, warmup)

        served = tf.saved_model.load(str(saved))
        row["savedmodel_ms"] = ms_per_crop(lambda: served.serve(x), batch, repeats, warmup)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interpreter = tf.lite.Interpreter(model_path=str(lite), num_threads=threads)
            single = tf.lite.Interpreter(model_path=str(lite), num_threads=threads)
        runner = interpreter.get_signature_runner("serving_default")
        out = runner(crops=crops)  # resizes the input to the batch
        row["tflite_max_diff"] = max(float(np.abs(out[name] - expected[name]).max()) for name in expected)
        row["tflite_ms"] = ms_per_crop(lambda: runner(crops=crops), batch, repeats, warmup)
        one = single.get_signature_runner("serving_default")

        def one_by_one():
            for i in range(batch):
                one(crops=crops[i : i + 1])

        row["tflite_1_ms"] = ms_per_crop(one_by_one, batch, repeats, warmup)
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["cpu-small"], help="preset handles (default cpu-small)")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per call (default 32)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls; the median is reported (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="TFLite threads (default: CPU cores)")
    args = parser.parse_args(argv)
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, batches of {args.batch_size} uint8 crops, "
        f"median of {args.repeats} calls, TFLite with {args.threads} threads"
    )
    header = (
        f"{'preset':<10} {'params':>11} {'crop':>11} {'SavedModel MB':>13} {'TFLite MB':>9} "
        f"{'Keras ms':>9} {'SavedModel ms':>13} {'TFLite ms':>9} {'TFLite 1-by-1 ms':>16} {'TFLite diff':>11} "
        f"{'export s':>12}"
    )
    print(header)
    for handle in args.presets:
        r = bench(handle, args.batch_size, args.repeats, args.warmup, args.threads)
        print(
            f"{r['preset']:<10} {r['params']:>11,} {r['crop']:>11} {r['savedmodel_mb']:>13.1f} "
            f"{r['tflite_mb']:>9.1f} {r['keras_ms']:>9.2f} {r['savedmodel_ms']:>13.2f} {r['tflite_ms']:>9.2f} "
            f"{r['tflite_1_ms']:>16.2f} {r['tflite_max_diff']:>11.1e} {r['savedmodel_s']:>5.0f} + {r['tflite_s']:<4.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
