"""Speed of DRML's region layer: DRML against its ConvNet baseline, the layer against references, aufera against PyTorch.

All in one run (one process, one machine state); every figure is the median
over `--repeats` timed steps after `--warmup` untimed ones (graph tracing, XLA
compilation), the contenders of each comparison interleaved step by step so
that a change of load hits them alike. Random data, labels in {-1, +1}.

1. The paper preset (`DRML.from_preset("paper")`, 170x170x1) and its ConvNet
   baseline (`region_layer=False`), batch `--batch`, Adam and `drml_losses()`:
   `train_on_batch` with XLA (`jit_compile=True`, how aufera trains) and in
   graph mode, `predict_on_batch` in graph mode (how aufera evaluates: a
   loaded model is not compiled with XLA) and with XLA. Ratios DRML/ConvNet
   (targets: <= 1.6 for training with XLA and for inference in graph mode),
   beside the paper's (Caffe on a K40c: train 19.1 / 6.4 ms = 3.0, test
   12.1 / 3.3 ms = 3.7).
2. The region layer alone on a batch x 160x160x32 map, forward + backward (a
   `tf.function` with a `GradientTape`, loss the sum of squares, gradients
   with respect to the input and the weights), with XLA and in graph mode:
   (a) `RegionLayer` in training mode; (b) the reference of the public
   Keras / PyTorch ports: 64 slices, each with its own BatchNormalization,
   ReLU and Conv2D(32, 3, padding="same") plus the slice, concatenated back;
   (c) the floor: one BatchNormalization, ReLU and 3x3 Conv2D over the whole
   map plus the identity (the same arithmetic). Ratios RegionLayer/floor
   (target <= 1.25) and RegionLayer/reference (target <= 1.0).
3. A PyTorch port in the public ports' style (skipped when `import torch`
   fails or with `--skip-torch`): the region layer as 64 `nn.Sequential(
   BatchNorm2d, ReLU, Conv2d 3x3)` applied in a Python double loop over
   `torch.chunk`ed rows and columns; DRML and ConvNet as in the paper. Train
   step (Adam, BCEWithLogits) and eval-mode inference under `no_grad`.
   Ratios aufera / PyTorch (target < 1: aufera faster).

Ends with Markdown tables of the measured numbers for docs/benchmarks.md.
Results depend on the machine and its load: run it on an idle machine (with
2 threads on cores that other work also uses, the PyTorch port's many small
operations slow down several times over). Compilation is part of the cost of
a run, not of the figures: XLA compiles the 64-slice reference in minutes on
2 cores, and `--quick` took 6-11 minutes on 2 busy cores.

Usage:

    python benchmarks/bench_drml.py                       # batch 8, 10 repeats
    python benchmarks/bench_drml.py --batch 16 --repeats 20 --skip-graph-train
    python benchmarks/bench_drml.py --quick               # batch 2, 2 repeats: only checks that it runs
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from aufera.losses import drml_losses  # noqa: E402
from aufera.models.drml import DRML  # noqa: E402
from aufera.models.region_layer import RegionLayer  # noqa: E402

# Zhao, Chu, Zhang 2016 (Caffe, one K40c): ms per step, DRML and ConvNet.
PAPER_MS = {"train": (19.1, 6.4), "test": (12.1, 3.3)}
TARGET_MODEL_RATIO = 1.6
TARGET_FLOOR_RATIO = 1.25
TARGET_REFERENCE_RATIO = 1.0

# The region layer benchmark: DRML's map after conv1.
REGION_SIDE, REGION_CHANNELS, REGION_GRID = 160, 32, 8


# --- helpers ---


def time_interleaved(steps: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, dict]:
    """Runs every step `warmup` times, then `repeats` rounds of one step each; ms per step (median, min, max)."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    seconds = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return {
        name: {"median": 1e3 * statistics.median(s), "min": 1e3 * min(s), "max": 1e3 * max(s)}
        for name, s in seconds.items()
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def verdict(value: float | None, target: float, strict: bool = False) -> str:
    if value is None:
        return ""
    met = value < target if strict else value <= target
    return f"(target {'<' if strict else '<='} {target:g}: {'met' if met else 'NOT met'})"


def memory_gib() -> tuple[float | None, float]:
    """(resident memory now, peak resident memory) of this process in GiB; now is None off Linux."""
    now = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) / 2**20
    except OSError:
        pass
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def print_phase(start: float) -> None:
    now, peak = memory_gib()
    print(
        f"  ({time.perf_counter() - start:.0f} s with warm-up and compilation; memory {fmt(now)} GiB, peak {peak:.1f})",
        flush=True,
    )


def print_timing(label: str, timing: dict) -> None:
    print(f"  {label:<42} {timing['median']:>9.1f} ms  (min {timing['min']:.1f}, max {timing['max']:.1f})", flush=True)


# --- 1. DRML and ConvNet, the paper preset ---


def bench_models(batch: int, repeats: int, warmup: int, graph_train: bool) -> dict:
    """ms per step of DRML and ConvNet: train XLA / graph, inference graph / XLA."""
    keras.utils.set_random_seed(0)
    models = {"drml": DRML.from_preset("paper"), "convnet": DRML.from_preset("paper", region_layer=False)}
    side_h, side_w, channels = models["drml"].input_shape_
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, side_h, side_w, channels)).astype("float32")
    labels = {"au": rng.choice([-1.0, 1.0], size=(batch, models["drml"].num_aus)).astype("float32")}
    for name, model in models.items():
        print(f"  {name}: {model.count_params():,} weights", flush=True)

    def compile_all(jit: bool) -> None:
        for model in models.values():
            model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit, **drml_losses())
            if bool(model.jit_compile) != jit:
                raise RuntimeError(f"{model.name}: asked for jit_compile={jit}, got {model.jit_compile}")

    phases = [("train", True), ("train", False), ("infer", False), ("infer", True)]
    results = {}
    for kind, jit in phases:
        key = f"{kind}_{'xla' if jit else 'graph'}"
        if kind == "train" and not jit and not graph_train:
            print(f"  {key}: skipped (--skip-graph-train)", flush=True)
            continue
        start = time.perf_counter()
        compile_all(jit)
        if kind == "train":
            steps = {name: (lambda m=m: m.train_on_batch(images, labels)) for name, m in models.items()}
        else:
            steps = {name: (lambda m=m: m.predict_on_batch(images)) for name, m in models.items()}
        timings = time_interleaved(steps, repeats, warmup)
        for name, timing in timings.items():
            print_timing(f"{name} {kind} ({'XLA' if jit else 'graph'})", timing)
        print_phase(start)
        results[key] = {name: t["median"] for name, t in timings.items()}
    models.clear()
    keras.backend.clear_session()
    gc.collect()
    return results


# --- 2. The region layer alone ---


class SlicedRegion:
    """The public ports' region layer: 64 slices, each with its own BN, ReLU and 3x3 convolution, plus the slice."""

    def __init__(self, grid: int, channels: int):
        self.grid = grid
        self.cells = [
            (
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Conv2D(channels, 3, padding="same"),
            )
            for _ in range(grid * grid)
        ]

    def __call__(self, x):
        h, w = x.shape[1] // self.grid, x.shape[2] // self.grid
        rows = []
        for r in range(self.grid):
            columns = []
            for c in range(self.grid):
                patch = x[:, r * h : (r + 1) * h, c * w : (c + 1) * w, :]
                bn, relu, conv = self.cells[r * self.grid + c]
                columns.append(conv(relu(bn(patch, training=True))) + patch)
            rows.append(tf.concat(columns, axis=2))
        return tf.concat(rows, axis=1)

    @property
    def trainable_variables(self):
        return [v for cell in self.cells for layer in cell for v in layer.trainable_variables]


class Floor:
    """One BN, ReLU and 3x3 convolution over the whole map, plus the identity: the region layer's arithmetic."""

    def __init__(self, channels: int):
        self.bn = keras.layers.BatchNormalization()
        self.relu = keras.layers.ReLU()
        self.conv = keras.layers.Conv2D(channels, 3, padding="same")

    def __call__(self, x):
        return self.conv(self.relu(self.bn(x, training=True))) + x

    @property
    def trainable_variables(self):
        return [v for layer in (self.bn, self.conv) for v in layer.trainable_variables]


class RegionTraining:
    """`RegionLayer` called in training mode."""

    def __init__(self, grid: int):
        self.layer = RegionLayer(grid=(grid, grid))

    def __call__(self, x):
        return self.layer(x, training=True)

    @property
    def trainable_variables(self):
        return self.layer.trainable_variables


def forward_backward(block, x: tf.Tensor, jit: bool) -> Callable[[], float]:
    """One forward + backward of `block` on `x` (loss: sum of squares), gradients for the input and the weights."""
    variables = block.trainable_variables

    @tf.function(jit_compile=jit)
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.square(block(inputs)))
        return loss, tape.gradient(loss, [inputs, *variables])

    return lambda: float(step(x)[0])


def bench_region(batch: int, repeats: int, warmup: int) -> dict:
    """ms per forward + backward of RegionLayer, the 64-slice reference and the floor, XLA and graph."""
    keras.utils.set_random_seed(0)
    x = tf.random.normal((batch, REGION_SIDE, REGION_SIDE, REGION_CHANNELS), seed=0)
    blocks = {
        "region_layer": RegionTraining(REGION_GRID),
        "reference": SlicedRegion(REGION_GRID, REGION_CHANNELS),
        "floor": Floor(REGION_CHANNELS),
    }
    for block in blocks.values():
        block(x)  # Builds the weights eagerly.
    results = {}
    for jit in (True, False):
        mode = "xla" if jit else "graph"
        start = time.perf_counter()
        steps = {name: forward_backward(block, x, jit) for name, block in blocks.items()}
        timings = time_interleaved(steps, repeats, warmup)
        for name, timing in timings.items():
            print_timing(f"{name} fwd+bwd ({'XLA' if jit else 'graph'})", timing)
        print_phase(start)
        results[mode] = {name: t["median"] for name, t in timings.items()}
        r_floor = ratio(results[mode]["region_layer"], results[mode]["floor"])
        r_reference = ratio(results[mode]["region_layer"], results[mode]["reference"])
        print(f"  RegionLayer/floor     {r_floor:.2f} {verdict(r_floor, TARGET_FLOOR_RATIO)}")
        print(f"  RegionLayer/reference {r_reference:.2f} {verdict(r_reference, TARGET_REFERENCE_RATIO)}", flush=True)
    del blocks
    keras.backend.clear_session()
    gc.collect()
    return results


# --- 3. A PyTorch port in the public ports' style ---


def build_torch_models(torch, grid: int = 8, num_aus: int = 10) -> dict:
    nn = torch.nn

    class Region(nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.grid = grid
            self.cells = nn.ModuleList(
                nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))
                for _ in range(grid * grid)
            )

        def forward(self, x):
            rows = []
            for r, row in enumerate(torch.chunk(x, self.grid, dim=2)):
                columns = []
                for c, patch in enumerate(torch.chunk(row, self.grid, dim=3)):
                    columns.append(self.cells[r * self.grid + c](patch) + patch)
                rows.append(torch.cat(columns, dim=3))
            return torch.cat(rows, dim=2)

    def network(region: bool):
        head = [nn.Conv2d(1, 32, 11)]
        if region:
            head.append(Region(32))
        return nn.Sequential(
            *head,
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.BatchNorm2d(32),
            nn.Conv2d(32, 16, 8),
            nn.ReLU(),
            nn.Conv2d(16, 16, 8),
            nn.ReLU(),
            nn.Conv2d(16, 16, 6, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 16, 5),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(27 * 27 * 16, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 2048),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(2048, num_aus),
        )

    return {"drml": network(True), "convnet": network(False)}


def bench_torch(batch: int, repeats: int, warmup: int, threads: int) -> dict | None:
    """ms per train step and per eval-mode inference of the PyTorch DRML and ConvNet; None if torch is missing."""
    try:
        import torch
    except Exception as error:  # Any failure to import means: skip.
        print(f"  skipped: import torch failed ({type(error).__name__}: {error})")
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    models = build_torch_models(torch)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.normal(size=(batch, 1, 170, 170)).astype("float32"))
    targets = torch.from_numpy((rng.choice([-1.0, 1.0], size=(batch, 10)) > 0).astype("float32"))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=1e-4) for name, model in models.items()}

    def train_step(name):
        model, optimizer = models[name], optimizers[name]
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), targets)
        loss.backward()
        optimizer.step()
        return loss.detach().item()

    def infer_step(name):
        model = models[name]
        model.eval()
        with torch.no_grad():
            return torch.sigmoid(model(images))

    results = {}
    for kind, step in (("train", train_step), ("infer", infer_step)):
        start = time.perf_counter()
        timings = time_interleaved({name: (lambda n=name, s=step: s(n)) for name in models}, repeats, warmup)
        for name, timing in timings.items():
            print_timing(f"torch {name} {kind}", timing)
        print_phase(start)
        results[kind] = {name: t["median"] for name, t in timings.items()}
    models.clear()
    optimizers.clear()
    gc.collect()
    return results


# --- report ---


def markdown(batch: int, models: dict, region: dict, torch_results: dict | None) -> str:
    lines = [
        f"| paper preset, batch {batch}, ms per step | DRML | ConvNet | DRML/ConvNet |",
        "|---|---|---|---|",
    ]
    names = {
        "train_xla": "train, XLA (aufera's training)",
        "train_graph": "train, graph mode",
        "infer_graph": "inference, graph mode (aufera's evaluation)",
        "infer_xla": "inference, XLA",
    }
    for key, label in names.items():
        row = models.get(key)
        if row is not None:
            lines.append(
                f"| {label} | {row['drml']:.1f} | {row['convnet']:.1f} | {ratio(row['drml'], row['convnet']):.2f} |"
            )
    if torch_results is not None:
        for kind, label in (("train", "train"), ("infer", "inference (eval, no_grad)")):
            row = torch_results[kind]
            lines.append(
                f"| PyTorch port, {label} | {row['drml']:.1f} | {row['convnet']:.1f} "
                f"| {ratio(row['drml'], row['convnet']):.2f} |"
            )
    lines += [
        "",
        f"| region layer, batch {batch} x {REGION_SIDE}x{REGION_SIDE}x{REGION_CHANNELS}, forward + backward, ms "
        "| RegionLayer | 64 slices (ports) | one conv (floor) | RegionLayer/floor | RegionLayer/64 slices |",
        "|---|---|---|---|---|---|",
    ]
    for mode, label in (("xla", "XLA"), ("graph", "graph mode")):
        row = region[mode]
        lines.append(
            f"| {label} | {row['region_layer']:.1f} | {row['reference']:.1f} | {row['floor']:.1f} "
            f"| {ratio(row['region_layer'], row['floor']):.2f} | {ratio(row['region_layer'], row['reference']):.2f} |"
        )
    if torch_results is not None:
        lines += [
            "",
            f"| DRML, batch {batch}, ms per step | aufera | PyTorch port | aufera/PyTorch |",
            "|---|---|---|---|",
        ]
        train_xla = models.get("train_xla", {}).get("drml")
        infer_graph = models.get("infer_graph", {}).get("drml")
        for label, ours, theirs in (
            ("train (aufera with XLA)", train_xla, torch_results["train"]["drml"]),
            ("inference (aufera in graph mode)", infer_graph, torch_results["infer"]["drml"]),
        ):
            lines.append(f"| {label} | {fmt(ours)} | {theirs:.1f} | {fmt(ratio(ours, theirs), '.2f')} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 8; 2 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per figure (default 10; 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="batch 2, 2 repeats, 1 warm-up: only checks that it runs")
    parser.add_argument("--skip-torch", action="store_true", help="leave out the PyTorch port")
    parser.add_argument(
        "--skip-graph-train", action="store_true", help="leave out graph-mode training of the paper preset (slow)"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads for the port (default: the core count)"
    )
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # One tf.function per contender: no retracing warnings.
    batch = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (2 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if batch < 1 or repeats < 1 or warmup < 0 or (args.torch_threads is not None and args.torch_threads < 1):
        parser.error("--batch, --repeats and --torch-threads must be positive, --warmup non-negative")

    started = time.perf_counter()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"machine: {cpu_model()}, {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend {keras.backend.backend()}), "
        f"torch {version('torch')}"
    )
    print(f"batch {batch}, {repeats} timed repeats after {warmup} warm-up; medians, ms per step")

    print("\n1. paper preset, DRML against ConvNet (Adam, drml_losses)", flush=True)
    models = bench_models(batch, repeats, warmup, graph_train=not args.skip_graph_train)
    paper = {kind: ratio(*ms) for kind, ms in PAPER_MS.items()}
    print("  DRML/ConvNet:")
    for key, label, target, paper_kind in (
        ("train_xla", "train, XLA (aufera's training)", TARGET_MODEL_RATIO, "train"),
        ("train_graph", "train, graph", None, "train"),
        ("infer_graph", "inference, graph (aufera's evaluation)", TARGET_MODEL_RATIO, "test"),
        ("infer_xla", "inference, XLA", None, "test"),
    ):
        row = models.get(key)
        if row is None:
            print(f"    {label:<40} skipped")
            continue
        r = ratio(row["drml"], row["convnet"])
        mark = verdict(r, target) if target is not None else ""
        print(f"    {label:<40} {r:5.2f}   paper {paper_kind} {paper[paper_kind]:.1f}  {mark}")
    print(
        f"  paper (Caffe, K40c): train {PAPER_MS['train'][0]} / {PAPER_MS['train'][1]} ms = {paper['train']:.1f}, "
        f"test {PAPER_MS['test'][0]} / {PAPER_MS['test'][1]} ms = {paper['test']:.1f}"
    )

    print(
        f"\n2. region layer alone, {batch}x{REGION_SIDE}x{REGION_SIDE}x{REGION_CHANNELS}, forward + backward",
        flush=True,
    )
    region = bench_region(batch, repeats, warmup)

    torch_results = None
    print("\n3. PyTorch port (public ports' style)", flush=True)
    if args.skip_torch:
        print("  skipped (--skip-torch)")
    else:
        torch_results = bench_torch(batch, repeats, warmup, args.torch_threads or os.cpu_count() or 1)
    if torch_results is not None:
        print(
            f"  PyTorch DRML/ConvNet: train {ratio(torch_results['train']['drml'], torch_results['train']['convnet']):.2f}, "
            f"inference {ratio(torch_results['infer']['drml'], torch_results['infer']['convnet']):.2f}"
        )
        train_xla = models.get("train_xla", {}).get("drml")
        infer_graph = models.get("infer_graph", {}).get("drml")
        r_train = ratio(train_xla, torch_results["train"]["drml"])
        r_infer = ratio(infer_graph, torch_results["infer"]["drml"])
        print(
            f"  aufera DRML train (XLA) / torch DRML train:          {r_train:.2f} {verdict(r_train, 1.0, strict=True)}"
        )
        print(
            f"  aufera DRML inference (graph) / torch DRML inference: {r_infer:.2f} {verdict(r_infer, 1.0, strict=True)}"
        )

    print("\nMarkdown (measured numbers only):\n")
    print(markdown(batch, models, region, torch_results))
    print(f"\npeak memory (max RSS) {memory_gib()[1]:.1f} GiB; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
