"""DRML (Zhao et al. 2016): its region layer against the ConvNet baseline, step by step through aufera's public API.

The same job as `aufera reproduce --paper drml`, one call per step:

    1. data      `SynthConfig` + `write_corpus`: the synthetic multi-view AU
                 corpus (skipped with --data-dir, a licensed FERA 2017 copy);
    2. prepare   `prepare(..., image_size=200)`: MTCNN face crops of 200 px,
                 of which DRML is evaluated on the centre 170 crop (the
                 cpu-small configs also train on it, the paper configs on
                 random 170 crops with flips);
    3. the layer `RegionLayer` alone: an 8x8 grid of cells, each with its own
                 batch normalisation, ReLU and 3x3 convolution, plus the
                 identity; checked here against the same cell computed by
                 hand with plain Keras layers;
    4. train     `train` with the "convnet-cpu-small" and "drml-cpu-small"
                 presets ("convnet" and "drml" on FERA 2017): the same
                 network without and with the region layer;
    5. evaluate  `evaluate_run`: F1 and AUC per AU of each; `iteration_times`:
                 time per training and test iteration beside the paper's
                 Table 4; `drml_tables_text` prints both tables.

Run it from the repository root (with aufera installed):

    python examples/drml_region_layer.py --quick      # smoke run: smaller corpus, shorter training
    python examples/drml_region_layer.py              # the default synthetic corpus, cpu-small presets

OUT (default ./drml_example) has the layout of `aufera reproduce`: corpus/,
data/ (the 200-px dataset and the face cache), run-convnet/, run-drml/. An
OUT written by `aufera reproduce` is reused: only the 200-px dataset and the
two networks are new work. Every step resumes after an interruption.

Bad input (a negative seed, a folder that is not there) is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.commands import validators  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.reproduce import (  # noqa: E402
    DRML_FERA_PRESETS,
    DRML_IMAGE_SIZE,
    DRML_RUN_DIRS,
    DRML_SYNTHETIC_PRESETS,
    QUICK_DRML_TRAIN,
    corpus_config,
)

PROG = "drml_region_layer"
DEFAULT_OUT = "drml_example"


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line arguments."""
    parser = OneLineParser(
        prog=PROG,
        description="DRML's region layer vs the ConvNet baseline step by step: synthetic corpus (default) or a "
        "FERA 2017 copy (--data-dir), 200-px crops, the region layer checked by hand, ConvNet and DRML trained and "
        "evaluated (F1, AUC), time per iteration beside the paper's Table 4.",
    )
    validators.add_reproduction_options(parser, DEFAULT_OUT, "smaller corpus and training (as reproduce --quick)")
    return parser


def check_region_layer() -> float:
    """Step 3: one RegionLayer against the same cells computed with plain Keras layers; returns the largest gap."""
    import keras
    import numpy as np

    from aufera.models import RegionLayer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    layer = RegionLayer(grid=(4, 4))
    layer.build(x.shape)
    for weight in layer.trainable_weights:
        weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    gap = 0.0
    for g in range(layer.cells):
        row, col = divmod(g, layer.grid[1])
        cell = x[:, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4, :]
        # Inference mode: moving mean 0 and variance 1, so BN is gamma * x / sqrt(1 + eps) + beta.
        gamma, beta = layer.gamma.numpy()[g], layer.beta.numpy()[g]
        activated = np.maximum(gamma * cell / np.sqrt(1.0 + layer.epsilon) + beta, 0.0)
        conv = keras.layers.Conv2D(3, 3, padding="same")
        conv.build(cell.shape)
        conv.set_weights([layer.kernel.numpy()[g], layer.bias.numpy()[g]])
        expected = keras.ops.convert_to_numpy(conv(activated)) + cell
        gap = max(gap, float(np.abs(y[:, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4, :] - expected).max()))
    return gap


def run(args) -> dict:
    """Runs the five steps; returns the metrics of ConvNet and DRML."""
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise AuferaError(f"--data-dir {args.data_dir}: not a folder")
    from aufera.commands.train import format_summary
    from aufera.config import resolve_config
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.prepare import prepare
    from aufera.evaluation import evaluate_run
    from aufera.evaluation.drml_report import drml_tables_text
    from aufera.reproduce import iteration_times, machine_label
    from aufera.synth.writer import write_corpus
    from aufera.training import train

    started = time.perf_counter()
    out = Path(args.out)
    workers = args.workers
    progress = not args.quiet

    # 1. The data: the synthetic corpus (resumes an interrupted one), or the FERA 2017 copy given.
    if args.data_dir is None:
        source, presets = out / "corpus", DRML_SYNTHETIC_PRESETS
        print(f"[1/5] synthetic corpus -> {source}", flush=True)
        write_corpus(source, corpus_config(args.seed, args.quick), workers=workers, progress=progress)
    else:
        source, presets = Path(args.data_dir), DRML_FERA_PRESETS
        print(f"[1/5] FERA 2017 copy: {source}", flush=True)

    # 2. 200-px face crops (the face cache of a 132-px preparation in the same folder is reused).
    print(f"[2/5] prepare {DRML_IMAGE_SIZE}-px crops -> {out / 'data'}", flush=True)
    report = prepare(source, out / "data", image_size=DRML_IMAGE_SIZE, workers=workers, progress=progress)
    dataset, synthetic = report["dataset"], bool(report["synthetic"])

    # 3. The region layer alone, against the same cells computed by hand.
    print(f"[3/5] region layer vs plain Keras cell by cell: largest difference {check_region_layer():.1e}", flush=True)

    # 4. ConvNet and DRML: the same network without and with the region layer.
    overrides = [f"seed={args.seed}", *(QUICK_DRML_TRAIN if args.quick else [])]
    configs = {name: resolve_config(preset, overrides) for name, preset in presets.items()}
    arrays = load_split_arrays(dataset, "validation")
    metrics = {}
    for name, config in configs.items():
        run_dir = out / DRML_RUN_DIRS[name]
        print(f"[4/5] train {name} ({config.preset}, {config.epochs_drml} epochs) -> {run_dir}", flush=True)
        print(format_summary(train(config, dataset, run_dir, progress=progress)), flush=True)
        # 5. F1 and AUC per AU on the held-out subjects (the centre crops).
        print(f"[5/5] evaluate {name}", flush=True)
        metrics[name] = evaluate_run(run_dir, dataset, synthetic=synthetic, arrays=arrays)

    times = {name: iteration_times(config, arrays) for name, config in configs.items()}
    times.update(batch=configs["DRML"].batch_size, preset=configs["DRML"].model.preset, machine=machine_label())
    print()
    print(drml_tables_text(metrics, times, synthetic))
    print(f"done in {time.perf_counter() - started:.0f} s")
    return metrics


def main(argv=None) -> int:
    """Parses the arguments and runs the example; returns the exit status (2 on bad input)."""
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
