"""How training uses the machines: the distribution strategy, the cluster, and the precision policy.

One process per machine. `select_strategy` picks
`tf.distribute.MultiWorkerMirroredStrategy` when `TF_CONFIG` describes a
cluster of more than one task, `tf.distribute.MirroredStrategy` on one
machine with several GPUs, and the default strategy otherwise. Under several
workers the chief (the task of type "chief", else worker 0) writes the run;
the other workers train in lockstep and write nothing.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

from aufera.errors import AuferaError

CLUSTER_TASK_TYPES = ("chief", "worker")


def cluster_from_env(environ=None) -> dict | None:
    """The cluster `TF_CONFIG` describes, checked; None when it is unset or names one task only.

    Args:
        environ: mapping or None. Defaults to `os.environ`.

    Returns:
        None, or a dict with `task_type`, `task_index`, `num_workers` (tasks
        of type "chief" and "worker") and `chief` (whether this task writes
        the run).

    Raises:
        AuferaError: one line naming TF_CONFIG and the problem (not JSON, no
            cluster or task, a task outside the cluster, task types other
            than "chief" and "worker").
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise AuferaError(f"TF_CONFIG: not JSON ({error})") from None
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("cluster"), dict)
        or not isinstance(spec.get("task"), dict)
    ):
        raise AuferaError('TF_CONFIG: expected {"cluster": {"worker": ["host:port", ...]}, "task": {...}}')
    cluster, task = spec["cluster"], spec["task"]
    other = sorted(set(cluster) - set(CLUSTER_TASK_TYPES))
    if other:
        raise AuferaError(f"TF_CONFIG: task types {other} are not used by aufera train (only chief and worker)")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise AuferaError(f"TF_CONFIG: cluster.{kind} must be a list of 'host:port' strings")
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in cluster or not isinstance(task_index, int) or not 0 <= task_index < len(cluster[task_type]):
        raise AuferaError(f"TF_CONFIG: task {task_type!r} {task_index!r} is not in the cluster {cluster}")
    num_workers = sum(len(cluster.get(kind, [])) for kind in CLUSTER_TASK_TYPES)
    if num_workers < 2:
        return None
    chief = task_type == "chief" or ("chief" not in cluster and task_index == 0)
    return {"task_type": task_type, "task_index": task_index, "num_workers": num_workers, "chief": chief}


def _multi_worker_strategy():
    """`tf.distribute.MultiWorkerMirroredStrategy` whose `reduce` also takes nests and per-replica scalars.

    Keras 3's `fit` reduces a nest of per-replica values (its first data
    batch) and per-replica scalar logs with `axis=0`; MirroredStrategy takes
    both, the multi-worker strategy neither (keras-team/keras#20585). This
    subclass reduces each leaf on its own, over replicas only for scalars.
    Everything else is TensorFlow's.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(leaf):
                leaf_axis = axis
                if axis is not None and all(t.shape.rank == 0 for t in self.experimental_local_results(leaf)):
                    leaf_axis = None
                return super(MultiWorkerMirroredStrategy, self).reduce(reduce_op, leaf, leaf_axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def select_strategy():
    """The strategy for this process.

    `MultiWorkerMirroredStrategy` (from `TF_CONFIG`) when the cluster has
    more than one task; `MirroredStrategy` when more than one GPU is visible;
    else the default strategy.
    """
    import tensorflow as tf

    if cluster_from_env() is not None:
        return _multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def num_workers(strategy) -> int:
    """Processes (machines) training together under `strategy`: 1 unless it is multi-worker."""
    return int(getattr(strategy.extended, "_num_workers", 1))


def is_chief(strategy) -> bool:
    """Whether this process writes the run: always, unless it is a non-chief worker of a multi-worker strategy."""
    return bool(strategy.extended.should_checkpoint)


def strategy_name(strategy) -> str:
    """ "MultiWorkerMirroredStrategy", "MirroredStrategy" or "default"."""
    import tensorflow as tf

    names = (
        (tf.distribute.MultiWorkerMirroredStrategy, "MultiWorkerMirroredStrategy"),
        (tf.distribute.MirroredStrategy, "MirroredStrategy"),
    )
    return next((name for kind, name in names if isinstance(strategy, kind)), "default")


def broadcast_from_chief(strategy, arrays: list) -> list[np.ndarray]:
    """The chief's values of `arrays` on every worker (one collective per dtype); themselves on one worker.

    Each worker passes arrays of the same shapes and dtypes (its own values
    are ignored unless it is the chief); the chief's first replica
    contributes them, every other replica zeros, and a sum over the replicas
    gives them to all.

    Args:
        strategy: a `tf.distribute` strategy.
        arrays: list of array-likes (numpy arrays, numbers, variables).

    Returns:
        A list of numpy arrays: the chief's values.
    """
    values = [np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in arrays]
    if num_workers(strategy) < 2 or not values:
        return values
    import tensorflow as tf

    chief = is_chief(strategy)
    out = list(values)
    for dtype in sorted({v.dtype.str for v in values}):
        members = [i for i, v in enumerate(values) if v.dtype.str == dtype]
        flat = np.concatenate([values[i].reshape(-1) for i in members])
        if flat.dtype == bool:
            flat = flat.astype(np.int32)
        calls = []

        def contribution(context, flat=flat, calls=calls):
            # Called once per local replica, in order: only the chief's first local replica gives its values.
            first = chief and not calls
            calls.append(context.replica_id_in_sync_group)
            return tf.constant(flat if first else np.zeros_like(flat))

        summed = strategy.reduce(
            tf.distribute.ReduceOp.SUM,
            strategy.experimental_distribute_values_from_function(contribution),
            axis=None,
        )
        summed = np.asarray(summed.numpy()).astype(values[members[0]].dtype)
        offset = 0
        for i in members:
            size = values[i].size
            out[i] = summed[offset : offset + size].reshape(values[i].shape)
            offset += size
    return out


def synchronize_batch_norm(model) -> int:
    """Makes every batch normalisation of `model` use the statistics of the global batch; returns how many.

    Under several replicas each one sees only its part of every batch; with
    synchronized statistics (an all-reduce per layer and step) a step
    normalises as one device with the whole batch would, so the number of
    replicas does not change what is trained. `keras.layers.BatchNormalization`
    layers get `synchronized=True`, aufera's `RegionLayer` its own flag.
    """
    import keras

    from aufera.models.region_layer import RegionLayer

    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (keras.layers.BatchNormalization, RegionLayer)):
            layer.synchronized = True
            count += 1
    return count


def reseed_dropout(model, seed: int, stage: str, epoch: int) -> int:
    """Sets the state of every random generator of `model` (its dropout layers') from the seed, stage and epoch.

    Keras does not save that state in a checkpoint, so without this an epoch
    resumed after a kill would draw other dropout masks than the same epoch
    of an uninterrupted run. Returns the number of generators.
    """
    import zlib

    generators = [v for v in model.variables if v.name == "seed_generator_state"]
    base = int(seed) * 1_000_003 + zlib.crc32(stage.encode()) + int(epoch) * 7919
    for i, variable in enumerate(generators):
        variable.assign(np.asarray([0, (base + i) % 2**31], dtype=variable.dtype))
    return len(generators)


def set_precision(mixed_precision: bool) -> str:
    """Sets the Keras global dtype policy for training and returns its name.

    "mixed_float16" only when asked and a GPU is visible; otherwise
    "float32" (with a warning when mixed precision was asked on CPU, where
    float16 is slower, not faster). Under mixed_float16 Keras wraps Adam in a
    `LossScaleOptimizer`; the models' softmax outputs are then float16, and
    the losses cast them to float32 before the log (see docs/training.md).
    """
    import keras
    import tensorflow as tf

    policy = "float32"
    if mixed_precision:
        if tf.config.list_logical_devices("GPU"):
            policy = "mixed_float16"
        else:
            warnings.warn("mixed_precision=True needs a GPU; training in float32 on CPU", stacklevel=2)
    keras.mixed_precision.set_global_policy(policy)
    return policy
