"""Batch samplers at FERA 2017 scale: planning time and AU balance per batch.

Builds a skewed synthetic label matrix of FERA 2017 size (1,330,000 frames,
the FERA 2017 training base rates with AU15 and AU23 made rare at 2%, 1%
unknown labels) and, for random sampling, multi-label stratification
(Chu et al. 2019, Alg. 1) and MOMU (Alg. 2) with batch 196 as in Chu et al.,
prints the seconds to plan one epoch (MOMU: N // batch_size batches) and two
balance figures, as in Chu et al. 2019, Fig. 6:

    within   mean over batches of (max + 1) / (min + 1) of the batch's AU
             counts (over AUs with positives): lower = AUs more balanced
             inside a batch.
    between  mean over AUs of the standard deviation over batches of the
             AU's count: lower = AU presence spread more evenly over batches.

    python benchmarks/bench_sampling.py [--rows N] [--batch-size B] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from aufera.au import AU_KEYS, FERA2017_TRAIN_BASE_RATES, NUM_AUS
from aufera.sampling import batch_au_counts, momu_batches, random_batches, stratified_batches

RARE_AUS = ("AU15", "AU23")


def skewed_labels(rows: int, seed: int) -> np.ndarray:
    """FERA-like labels: independent AUs at the FERA rates, two AUs at 2%, 1% unknown."""
    rates = np.array(FERA2017_TRAIN_BASE_RATES)
    for key in RARE_AUS:
        rates[AU_KEYS.index(key)] = 0.02
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((rows, NUM_AUS), dtype=np.float32) < rates, 1, -1).astype(np.int8)
    labels[rng.random((rows, NUM_AUS), dtype=np.float32) < 0.01] = 0
    return labels


def balance(labels: np.ndarray, plan) -> tuple[float, float]:
    counts = batch_au_counts(labels, plan)[:, (labels == 1).any(axis=0)]
    within = float(np.mean((counts.max(axis=1) + 1) / (counts.min(axis=1) + 1)))
    between = float(np.mean(counts.std(axis=0)))
    return within, between


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_330_000)
    parser.add_argument("--batch-size", type=int, default=196)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    labels = skewed_labels(args.rows, args.seed)
    rates = " ".join(f"{key}={rate:.3f}" for key, rate in zip(AU_KEYS, (labels == 1).mean(axis=0), strict=True))
    print(f"labels: {args.rows} rows, batch {args.batch_size}; positive rates: {rates}")
    samplers = {
        "random": lambda: random_batches(labels, args.batch_size, seed=args.seed),
        "stratified": lambda: stratified_batches(labels, args.batch_size, seed=args.seed),
        "momu": lambda: momu_batches(labels, args.batch_size, args.rows // args.batch_size, seed=args.seed),
    }
    print(f"{'sampler':<11} {'batches':>8} {'plan s':>8} {'within max/min':>15} {'between std':>12}")
    for name, sampler in samplers.items():
        start = time.perf_counter()
        plan = sampler()
        seconds = time.perf_counter() - start
        within, between = balance(labels, plan)
        print(f"{name:<11} {len(plan):>8} {seconds:>8.2f} {within:>15.2f} {between:>12.2f}")
        if name == "momu":
            used = np.unique(np.concatenate(plan)).size
            print(f"momu: {used} distinct frames used ({used / args.rows:.1%} of the rows)")


if __name__ == "__main__":
    main()
