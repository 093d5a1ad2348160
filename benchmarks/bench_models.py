"""Training and inference speed of the model presets on this machine (images per second).

For each preset, builds Network1 and Network2 (on Network1's frozen backbone)
at the preset's input size, compiles them with Adam and the aufera losses, and
times `train_on_batch` and `predict_on_batch` on random data after a few
warm-up steps, with and without XLA (`jit_compile`). Prints a table and the
parameter counts. Results depend on the machine and its load; docs/models.md
records figures measured on a 2-core CPU.

Usage:

    python benchmarks/bench_models.py                          # both presets, XLA off and on
    python benchmarks/bench_models.py --presets cpu-small --steps 20 --batch-size 32
    python benchmarks/bench_models.py --presets paper --batch-size 4 --steps 3 --xla off
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from aufera.au import NUM_AUS, NUM_VIEWS  # noqa: E402
from aufera.losses import network1_losses, network2_losses  # noqa: E402
from aufera.models import Network1, Network2, get_preset  # noqa: E402

DEFAULT_BATCH = {"paper": 4, "cpu-small": 32}
DEFAULT_STEPS = {"paper": 3, "cpu-small": 20}


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _time_steps(step, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def bench_preset(name: str, batch_size: int, steps: int, warmup: int, xla: bool) -> list[dict]:
    keras.utils.set_random_seed(0)
    side = get_preset(name)["preprocessing"]["image_size"]
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size, side, side, 1)).astype("float32")
    au = rng.choice([-1, 0, 1], size=(batch_size, NUM_AUS)).astype("float32")
    view = rng.integers(0, NUM_VIEWS, size=(batch_size,)).astype("int32")

    network1 = Network1.from_preset(name)
    network1.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla, **network1_losses())
    rows = []
    seconds = _time_steps(lambda: network1.train_on_batch(images, {"au": au, "view": view}), steps, warmup)
    rows.append({"model": "network1", "mode": "train", "images_per_s": steps * batch_size / seconds})
    seconds = _time_steps(lambda: network1.predict_on_batch(images), steps, warmup)
    rows.append({"model": "network1", "mode": "infer", "images_per_s": steps * batch_size / seconds})

    network2 = Network2.from_preset(name, backbone=network1.backbone)
    network2.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla, **network2_losses())
    seconds = _time_steps(lambda: network2.train_on_batch(images, {"au": au}), steps, warmup)
    rows.append({"model": "network2", "mode": "train", "images_per_s": steps * batch_size / seconds})
    seconds = _time_steps(lambda: network2.predict_on_batch(images), steps, warmup)
    rows.append({"model": "network2", "mode": "infer", "images_per_s": steps * batch_size / seconds})

    backbone = network1.backbone.count_params()
    params = {
        "network1": network1.count_params(),
        "network2_new": network2.count_params() - backbone,
        "total": network1.count_params() + network2.count_params() - backbone,
        "network2_trainable": _count(network2.trainable_weights),
    }
    for row in rows:
        row.update(preset=name, batch=batch_size, steps=steps, xla=xla, params=params)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["cpu-small", "paper"], help="presets to time")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: 32 cpu-small, 4 paper)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 cpu-small, 3 paper)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (graph tracing, XLA compile)")
    parser.add_argument("--xla", choices=["off", "on", "both"], default="both", help="jit_compile setting(s)")
    args = parser.parse_args(argv)

    xla_modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPUs")
    print(f"{'preset':<10} {'xla':<4} {'batch':>5} {'model':<9} {'mode':<5} {'images/s':>9}")
    params = {}
    for name in args.presets:
        get_preset(name)  # Fails early on an unknown name.
        for xla in xla_modes:
            rows = bench_preset(
                name,
                args.batch_size or DEFAULT_BATCH.get(name, 8),
                args.steps or DEFAULT_STEPS.get(name, 5),
                args.warmup,
                xla,
            )
            for row in rows:
                print(
                    f"{name:<10} {'on' if xla else 'off':<4} {row['batch']:>5} {row['model']:<9} {row['mode']:<5} "
                    f"{row['images_per_s']:>9.1f}",
                    flush=True,
                )
            params[name] = rows[0]["params"]
            keras.backend.clear_session()
    print("\nparameters (every weight, batch-norm statistics included)")
    for name, p in params.items():
        print(
            f"{name:<10} network1 {p['network1']:>12,}  network2 new {p['network2_new']:>12,}  total {p['total']:>12,}"
            f"  (network2 trainable {p['network2_trainable']:,})"
        )


if __name__ == "__main__":
    main()
