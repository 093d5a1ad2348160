"""Speed of `aufera synth`: frames written per second (render, encode, write).

Writes the default corpus (or a smaller one) into a temporary folder with 1
worker and with the default number of workers, in the same run, and prints
frames/s for each and their ratio.

    python benchmarks/bench_synth.py [--frames N] [--size PX]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from aufera.synth.config import SynthConfig, default_workers
from aufera.synth.writer import write_corpus


def run(config: SynthConfig, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = write_corpus(out, config, workers=workers, progress=False)
        seconds = time.perf_counter() - start
    frames = 9 * config.frames * result["sessions"]
    return frames / seconds, frames, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=SynthConfig().frames)
    parser.add_argument("--size", type=int, default=SynthConfig().size)
    args = parser.parse_args()
    config = SynthConfig(frames=args.frames, size=args.size)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    print(
        f"corpus: {config.train_subjects}+{config.valid_subjects} subjects x {config.tasks} sessions x "
        f"{config.frames} frames x 9 views, {config.size}x{config.size} px"
    )
    rates = {}
    for workers in sorted({1, default_workers()}):
        rate, frames, seconds = run(config, workers)
        rates[workers] = rate
        print(f"workers={workers}: {frames} frames in {seconds:.1f} s = {rate:.0f} frames/s")
    if len(rates) > 1:
        print(f"speed-up with {default_workers()} workers: {rates[default_workers()] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
