"""`aufera train` on two worker processes: MultiWorkerMirroredStrategy on 127.0.0.1, ports chosen here.

Each worker is one `aufera train` process with its own `--out` and a
`TF_CONFIG` naming both; worker 0 is the chief and holds the run. The config
is the ConvNet baseline of DRML at cpu-small (no dropout, no augmentation:
nothing random in a step) trained with SGD, so one worker with the same
global batch must give the same loss curve; its batch normalisation is synchronized over the
replicas (`aufera.training.runtime.synchronize_batch_norm`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from aufera.filenames import TRAIN_SUMMARY_FILE, history_file
from aufera.training import read_history
from aufera.training.runtime import cluster_from_env
from aufera.training.schedule import replica_plan

CONFIG = [
    "--config",
    "convnet-cpu-small",
    "epochs_drml=2",
    "batch_size=8",
    "max_steps_per_epoch=3",
    "validation.max_examples=16",
    "runtime.jit_compile=false",
    # SGD: Adam's first steps (g / sqrt(v)) turn the float32 rounding of gradient components near 0, which
    # differs with the order of the sums over replicas, into whole steps of the learning rate (measured: loss
    # curves 7e-4 apart after 2 epochs); SGD leaves that rounding as small as it is.
    "optimizer.name=sgd",
    "optimizer.learning_rate=0.01",
]
# float32 rounding in another order than on one worker (the sums over replicas; the synchronized batch
# statistics, whose variance Keras computes in one pass) grows with the steps. Measured on this config: 4e-6
# relative after epoch 1, 1.2e-4 after epoch 2. Losing or repeating half of each batch moves the curve by
# far more (epoch-2 losses of two runs whose batches differ: see test_replica_split_matters).
LOSS_TOLERANCE = 1e-3


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_env(ports: list[int], index: int) -> dict:
    env = dict(os.environ)
    env["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def train_argv(data, out, *overrides) -> list[str]:
    # The overrides follow the config's, before the options (argparse takes the key=value list in one piece).
    command = [sys.executable, "-m", "aufera.cli", "train", *CONFIG, *overrides]
    return command + ["--data", str(data), "--out", str(out), "--quiet"]


def start_workers(data, outs, overrides=()) -> list[subprocess.Popen]:
    ports = free_ports(len(outs))
    return [
        subprocess.Popen(
            train_argv(data, out, *overrides),
            env=worker_env(ports, i),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, out in enumerate(outs)
    ]


def finish(processes, timeout=600) -> list[tuple[int, str, str]]:
    results = []
    for p in processes:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        results.append((p.returncode, out, err))
    return results


@pytest.fixture(scope="module")
def dataset200(tiny_corpus, tmp_path_factory):
    from aufera.data.prepare import prepare

    out = tmp_path_factory.mktemp("mw200")
    return prepare(tiny_corpus, out, image_size=200, workers=1, progress=False)["dataset"]


@pytest.fixture(scope="module")
def one_worker(dataset200, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    result = subprocess.run(train_argv(dataset200, out), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_tf_config_is_read_and_checked():
    spec = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    assert cluster_from_env({"TF_CONFIG": json.dumps(spec)}) == {
        "task_type": "worker",
        "task_index": 1,
        "num_workers": 2,
        "chief": False,
    }
    chief = {"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "chief", "index": 0}}
    assert cluster_from_env({"TF_CONFIG": json.dumps(chief)})["chief"] is True
    one = {"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 0}}
    assert cluster_from_env({"TF_CONFIG": json.dumps(one)}) is None
    assert cluster_from_env({}) is None
    from aufera.errors import AuferaError

    for bad, words in [
        ("{not json", "not JSON"),
        (json.dumps({"cluster": {"ps": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker"}}), "ps"),
        (json.dumps({**spec, "task": {"type": "worker", "index": 2}}), "not in the cluster"),
        (json.dumps({"cluster": {"worker": "h:1"}, "task": {"type": "worker"}}), "host:port"),
    ]:
        with pytest.raises(AuferaError, match=words) as error:
            cluster_from_env({"TF_CONFIG": bad})
        assert str(error.value).startswith("TF_CONFIG: ") and "\n" not in str(error.value)


def test_each_batch_is_split_over_the_replicas_not_repeated():
    plan = [np.arange(8), np.arange(8, 16), np.arange(16, 19), np.array([19])]
    worker0 = replica_plan(plan, 2, 0, 1)
    worker1 = replica_plan(plan, 2, 1, 1)
    assert [list(r) for r in worker0] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17]]
    assert [list(r) for r in worker1] == [[4, 5, 6, 7], [12, 13, 14, 15], [18]]
    # Two replicas on one worker take their parts of each batch in turn.
    both = replica_plan(plan, 2, 0, 2)
    assert [list(r) for r in both] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16, 17], [18]]


@pytest.mark.slow  # two TensorFlow processes: kept out of the default suite's 15 minutes
def test_two_workers_give_one_workers_loss_curve_and_only_the_chief_writes(dataset200, one_worker, tmp_path):
    outs = [tmp_path / "chief", tmp_path / "worker1"]
    results = finish(start_workers(dataset200, outs))
    for code, _, err in results:
        assert code == 0, err[-3000:]
    assert "the chief's --out holds the run" in results[1][1]
    # Only the chief wrote anything.
    assert not outs[1].exists() or not any(outs[1].iterdir())
    summary = json.loads((outs[0] / TRAIN_SUMMARY_FILE).read_text())
    assert summary["strategy"] == "MultiWorkerMirroredStrategy"
    assert summary["workers"] == 2 and summary["replicas"] == 2
    single = json.loads((one_worker / TRAIN_SUMMARY_FILE).read_text())
    assert single["workers"] == 1 and single["replicas"] == 1
    two = read_history(outs[0] / history_file("drml"))
    one = read_history(one_worker / history_file("drml"))
    assert len(two) == len(one) == 2
    for key in ("loss", "val_loss", "val_mean_f1"):
        np.testing.assert_allclose([r[key] for r in two], [r[key] for r in one], rtol=LOSS_TOLERANCE, atol=1e-6)


@pytest.mark.slow  # two TensorFlow processes: kept out of the default suite's 15 minutes
def test_replica_split_matters(dataset200, one_worker, tmp_path):
    # The control of the tolerance above: a worker that trained on its half of each batch alone (batch 4
    # instead of 8 at the same steps) leaves the one-worker curve by far more than LOSS_TOLERANCE.
    half = tmp_path / "half"
    result = subprocess.run(train_argv(dataset200, half, "batch_size=4"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [r["loss"] for r in read_history(half / history_file("drml"))]
    reference = [r["loss"] for r in read_history(one_worker / history_file("drml"))]
    assert np.max(np.abs(np.subtract(losses, reference)) / np.abs(reference)) > 10 * LOSS_TOLERANCE


@pytest.mark.slow
def test_a_run_whose_second_worker_is_killed_mid_epoch_resumes(dataset200, tmp_path):
    overrides = ("epochs_drml=3", "max_steps_per_epoch=6")
    # The reference: the same two workers, never interrupted (the same float32 sums as the resumed run).
    reference = [tmp_path / "reference", tmp_path / "reference1"]
    for code, _, err in finish(start_workers(dataset200, reference, overrides)):
        assert code == 0, err[-3000:]

    outs = [tmp_path / "chief", tmp_path / "worker1"]
    workers = start_workers(dataset200, outs, overrides)
    state = outs[0] / "checkpoints" / "drml" / "state.json"
    deadline = time.time() + 600
    while time.time() < deadline:
        if state.is_file() and json.loads(state.read_text())["epochs_done"] >= 1:
            break
        assert workers[0].poll() is None, workers[0].communicate()[1][-2000:]
        time.sleep(0.2)
    time.sleep(1.0)  # into epoch 2
    workers[1].send_signal(signal.SIGKILL)
    # The chief notices the lost worker and stops with one line (or, still waiting, is stopped as a cluster
    # manager would stop it).
    code, _, err = finish(workers[:1], timeout=240)[0]
    assert code != 0
    if code == 2:
        assert "a worker was lost" in err and "rerun every worker's command" in err
    assert json.loads(state.read_text())["epochs_done"] in (1, 2)
    assert not (outs[0] / "drml.keras").exists()

    results = finish(start_workers(dataset200, outs, overrides))
    for code, _, err in results:
        assert code == 0, err[-3000:]
    resumed = read_history(outs[0] / history_file("drml"))
    uninterrupted = read_history(reference[0] / history_file("drml"))
    assert [r["epoch"] for r in resumed] == [1, 2, 3]
    for key in ("loss", "val_loss", "val_mean_f1"):
        np.testing.assert_allclose([r[key] for r in resumed], [r[key] for r in uninterrupted], rtol=1e-6, atol=1e-7)
    assert (outs[0] / "drml.keras").is_file()
    assert not outs[1].exists() or not any(outs[1].iterdir())
