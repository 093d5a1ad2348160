"""What each epoch trains on and how fast: batch plans, steps, the learning rate, validation rows."""

from __future__ import annotations

import math

import numpy as np

from aufera.config import TrainConfig


def plan_epoch(config: TrainConfig, labels: np.ndarray, epoch: int) -> list[np.ndarray]:
    """The batch plan of one epoch: the configured sampler seeded by seed + epoch.

    Every sampler gives ceil(N / batch_size) batches (MOMU is asked for that
    many), cut to `max_steps_per_epoch` when set.

    Args:
        config: TrainConfig.
        labels: int array (N, 10) of +1 / -1 / 0, the training labels.
        epoch: int. 0-based epoch index.

    Returns:
        A list of int64 row-index arrays.
    """
    from aufera.sampling import momu_batches, random_batches, stratified_batches

    seed = int(config.seed) + int(epoch)
    batch_size = int(config.batch_size)
    if config.sampler == "random":
        plan = random_batches(labels, batch_size, seed=seed)
    elif config.sampler == "stratified":
        plan = stratified_batches(labels, batch_size, seed=seed)
    else:
        plan = momu_batches(labels, batch_size, math.ceil(len(labels) / batch_size), seed=seed)
    return plan[: steps_per_epoch(config, len(labels))]


def replica_plan(plan: list, num_replicas: int, first: int, count: int) -> list[np.ndarray]:
    """The part of a batch plan that some replicas of a synchronous strategy train on.

    Every batch is cut into `num_replicas` near-equal contiguous parts (the
    global batch is split, not repeated); the parts `first` ..
    `first + count - 1` of each batch follow one another, one per replica and
    step, as `distribute_datasets_from_function` hands them out. A batch of
    fewer rows than replicas is left out, on every replica alike.

    Args:
        plan: list of int arrays. One epoch's batches (`plan_epoch`).
        num_replicas: int. Replicas over all workers.
        first: int. The first replica of this worker (global id).
        count: int. This worker's replicas.

    Returns:
        A list of int64 row-index arrays.
    """
    out = []
    for rows in plan:
        if len(rows) < num_replicas:
            continue
        out.extend(np.array_split(np.asarray(rows, np.int64), num_replicas)[first : first + count])
    return out


def steps_per_epoch(config: TrainConfig, num_rows: int) -> int:
    """Batches in one epoch of `plan_epoch`: ceil(N / batch_size), at most `max_steps_per_epoch`."""
    steps = math.ceil(int(num_rows) / int(config.batch_size))
    if config.max_steps_per_epoch is not None:
        steps = min(steps, int(config.max_steps_per_epoch))
    return steps


def learning_rate(config: TrainConfig, epochs: int, num_rows: int):
    """Adam's learning rate: `optimizer.learning_rate`, constant or cosine-decayed to 0 over the stage's steps."""
    optimizer = config.optimizer
    if optimizer.lr_schedule == "constant":
        return float(optimizer.learning_rate)
    import keras

    total = max(1, int(epochs) * steps_per_epoch(config, num_rows))
    return keras.optimizers.schedules.CosineDecay(float(optimizer.learning_rate), decay_steps=total)


def validation_rows(num_rows: int, max_examples: int | None) -> np.ndarray:
    """All rows, or `max_examples` evenly spaced rows (so every subject and view stays represented)."""
    if max_examples is None or max_examples >= num_rows:
        return np.arange(num_rows, dtype=np.int64)
    return np.unique(np.linspace(0, num_rows - 1, int(max_examples)).round().astype(np.int64))
