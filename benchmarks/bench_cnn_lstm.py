"""Speed of Chu et al. 2019's CNN-LSTM: the sequence pipeline, LSTM training steps and whole-model inference.

For the cpu-small and the paper presets, in one run (one process, one machine
state), random data and untrained weights (speed does not depend on the
values); every figure is the median over `--repeats` timed runs after
`--warmup` untimed ones (graph tracing):

1. Sequence pipeline: frames per second of training windows of projected fc7
   (`sample_windows` -> `window_arrays` -> `sequence_dataset`, the route
   `aufera train` takes each epoch) over a corpus of `--videos` videos of
   `--frames` frames, features of the preset's PCA size (cpu-small: 75, as
   measured on the CNN-LSTM corpus; paper: 1,024).
2. LSTM training: `train_on_batch` steps per second of `ChuLSTM` with RMSProp
   and the max-margin loss, the config's batch of subsequences (cpu-small:
   10 x 100 frames; paper: 10 x 1,300 frames), and the frames per second
   that makes.
3. Whole-model inference: frames per second of the whole `CNNLSTM` on one
   sequence of `--sequence` frames (1,000 by default) of 176x176x1 face
   crops, in graph mode as `aufera evaluate` runs it (target for cpu-small:
   >= 200 frames/s on 2 CPU cores).

Ends with a Markdown table for docs/benchmarks.md.

Usage:

    python benchmarks/bench_cnn_lstm.py                  # both presets
    python benchmarks/bench_cnn_lstm.py --presets cpu-small --repeats 5
    python benchmarks/bench_cnn_lstm.py --quick          # tiny sizes: only checks that it runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from aufera.config import resolve_config  # noqa: E402
from aufera.data.sequences import sample_windows, sequence_dataset, video_sequences, window_arrays  # noqa: E402
from aufera.losses import MaxMarginLoss  # noqa: E402
from aufera.models import CNNLSTM, ChuCNN, ChuFusion, ChuLSTM, PCAProjection, get_preset  # noqa: E402
from aufera.reproduce import machine_label  # noqa: E402

CONFIGS = {"cpu-small": "chu2019-cpu-small", "paper": "chu2019"}
# Projected feature sizes: cpu-small as fitted on the CNN-LSTM corpus (docs/cnn_lstm.md), the paper's 1,024.
PCA_SIZE = {"cpu-small": 75, "paper": 1024}


def timed(step, repeats: int, warmup: int) -> float:
    """The median seconds of `step()` over `repeats` runs after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def pipeline_fps(preset: str, args) -> float:
    """Frames per second of one epoch's training windows (sample, gather, tf.data batches)."""
    config = resolve_config(CONFIGS[preset])
    seq = config.sequence
    rng = np.random.default_rng(0)
    n = args.videos * args.frames
    subject = np.repeat([f"F{i:03d}" for i in range(args.videos)], args.frames)
    videos = video_sequences(
        subject, np.full(n, "T1"), np.zeros(n, np.int64), np.tile(np.arange(args.frames), args.videos)
    )
    features = rng.normal(size=(n, PCA_SIZE[preset])).astype(np.float32)
    labels = rng.choice(np.array([-1, 1], np.int8), size=(n, 10))
    length = min(seq.length, args.frames)
    frames = []

    def epoch():
        windows, counts = sample_windows(videos, labels, length, seq.per_video, 0, seq.min_active_aus, seq.burn_in)
        x, y, _ = window_arrays(features, labels, videos, windows, length, seq.burn_in)
        for batch, _ in sequence_dataset(x, y, seq.batch_size, shuffle_seed=0):
            batch.numpy()
        frames.append(counts["frames_kept"])

    seconds = timed(epoch, args.repeats, args.warmup)
    return frames[-1] / seconds


def lstm_training(preset: str, args) -> tuple[float, float, int, int]:
    """(steps/s, frames/s, batch, length) of ChuLSTM training steps."""
    config = resolve_config(CONFIGS[preset])
    seq = config.sequence
    length = 40 if args.quick else seq.length
    keras.utils.set_random_seed(0)
    model = ChuLSTM(feature_dim=PCA_SIZE[preset], **get_preset(preset, family="chu2019")["lstm"])
    model.compile(optimizer=keras.optimizers.RMSprop(seq.learning_rate, rho=seq.rho), loss={"au": MaxMarginLoss()})
    rng = np.random.default_rng(1)
    x = rng.normal(size=(seq.batch_size, length, PCA_SIZE[preset])).astype(np.float32)
    y = {"au": rng.choice(np.array([-1.0, 1.0], np.float32), size=(seq.batch_size, length, 10))}
    seconds = timed(lambda: model.train_on_batch(x, y), args.repeats, args.warmup)
    return 1.0 / seconds, seq.batch_size * length / seconds, seq.batch_size, length


def whole_model_fps(preset: str, args) -> float:
    """Frames per second of the whole CNNLSTM on one sequence of `--sequence` frames (graph mode)."""
    keras.utils.set_random_seed(0)
    presets = get_preset(preset, family="chu2019")
    cnn = ChuCNN(**presets["cnn"])
    projection = PCAProjection(cnn.feature_size, PCA_SIZE[preset])
    temporal = ChuLSTM(feature_dim=PCA_SIZE[preset], **presets["lstm"])
    model = CNNLSTM(cnn, projection, temporal, ChuFusion(**presets["fusion"]))
    x = np.random.default_rng(2).normal(size=(1, args.sequence, *cnn.input_shape[1:])).astype(np.float32)
    present = np.ones((1, args.sequence), bool)
    run = tf.function(lambda images, mask: model(images, present=mask, training=False)["au"], reduce_retracing=True)
    seconds = timed(lambda: run(x, present).numpy(), args.repeats, args.warmup)
    return args.sequence / seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--videos", type=int, default=30, help="videos of the pipeline's corpus (default 30)")
    parser.add_argument("--frames", type=int, default=300, help="frames per video (default 300)")
    parser.add_argument("--sequence", type=int, default=1000, help="frames of the inference sequence (default 1000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: only checks that it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.videos, args.frames, args.sequence = 1, 1, 3, 60, 40
    print(f"machine: {machine_label()}; TensorFlow {tf.__version__}, Keras {keras.__version__}", flush=True)
    rows = []
    for preset in args.presets:
        fps = pipeline_fps(preset, args)
        print(f"{preset}: sequence pipeline {fps:,.0f} frames/s", flush=True)
        steps, frames, batch, length = lstm_training(preset, args)
        print(f"{preset}: LSTM training {steps:.2f} steps/s ({batch} x {length} frames: {frames:,.0f} frames/s)")
        infer = whole_model_fps(preset, args)
        print(f"{preset}: whole CNN-LSTM inference {infer:,.1f} frames/s on a {args.sequence}-frame sequence")
        rows.append((preset, fps, steps, batch, length, frames, infer))
    print()
    print(
        "| preset | sequence pipeline, frames/s | LSTM training, steps/s (batch x frames) | LSTM training, frames/s "
        f"| whole model, frames/s ({args.sequence}-frame sequence) |"
    )
    print("|---|---|---|---|---|")
    for preset, fps, steps, batch, length, frames, infer in rows:
        print(f"| {preset} | {fps:,.0f} | {steps:.2f} ({batch} x {length}) | {frames:,.0f} | {infer:,.1f} |")


if __name__ == "__main__":
    main()
