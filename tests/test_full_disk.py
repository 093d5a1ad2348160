"""A full disk: every write that fails for lack of space is one line naming the file, leaves nothing that reads as
complete, and the rerun after space is freed gives the outputs of a run that never failed.

Two ways of running out of space, both real OS errors on every write path (Python, numpy, h5py, TensorFlow's C++
file system, OpenCV's video writer):

- a file-size limit (`RLIMIT_FSIZE`, with SIGXFSZ ignored): every write past N bytes of a file fails with EFBIG,
  in this process (`file_size_limit`) or in a command started under it (`limit_in_child`);
- a real full disk: the command runs in a private mount namespace on a tmpfs of a few pages (`unshare -rm`), where
  writes fail with ENOSPC; then the tmpfs is made larger ("space is freed") and the command is run again. Skipped
  where user namespaces are not allowed.

`aufera predict` and writing a preset are tested in tests/test_predict.py (its detector). The end-to-end runs of
`aufera prepare`, `train` and `export` (minutes) are marked slow.
"""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CORPUS
from disk_limits import file_size_limit, limit_in_child, tree

from aufera.errors import WriteError
from aufera.files import (
    as_write_error,
    atomic_directory,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_weights,
)

TINY_SYNTH_FLAGS = [
    f"--train-subjects={TINY_CORPUS['train_subjects']}",
    f"--valid-subjects={TINY_CORPUS['valid_subjects']}",
    f"--tasks={TINY_CORPUS['tasks']}",
    f"--frames={TINY_CORPUS['frames']}",
    f"--size={TINY_CORPUS['size']}",
]
TINY_TRAIN = [
    "batch_size=8",
    "max_steps_per_epoch=2",
    "epochs_network1=2",
    "epochs_network2=1",
    "validation.batch_size=36",
]
EFBIG = f"[Errno {errno.EFBIG}] {os.strerror(errno.EFBIG)}"
ENOSPC = f"[Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"


# === Ways to run out of space ===


def aufera(*argv, limit: int | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """`aufera ARGV` in a new process, its file writes limited to `limit` bytes a file when given.

    As a user runs it: TensorFlow's start-up lines hidden by the command (the tests set TF_CPP_MIN_LOG_LEVEL,
    which would show them), so that stderr holds what the command itself says.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "AUFERA_QUIET_TF")}
    return subprocess.run(
        [sys.executable, "-m", "aufera.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=limit_in_child(limit) if limit is not None else None,
    )


def assert_one_error_line(stderr: str, prog: str, path, problem: str, startup_noise: bool = False) -> None:
    """The command's stderr is one line naming `path` and the OS `problem`.

    `startup_noise`: leave out the lines that a successful run prints too (`aufera prepare` shows TensorFlow's
    start-up lines and an absl warning of TFDS's whatever happens; not part of what is tested here).
    """
    from aufera.quiet import NOISE

    lines = [line for line in stderr.splitlines() if line.strip()]
    if startup_noise:
        lines = [line for line in lines if not (NOISE.search(line) or line.startswith("WARNING:absl:Variant folder"))]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"aufera {prog}: error: cannot write {path}: {problem}; "), lines[0]
    assert "Traceback" not in stderr


# === The atomic writes, one writer at a time ===


def _keras_model():
    import keras

    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(64)])


def _tfrecords(tmp):
    import tensorflow as tf

    with tf.io.TFRecordWriter(tmp) as writer:
        for _ in range(40):
            writer.write(b"x" * 100)


def _figure(tmp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot(np.arange(100))
    fig.savefig(tmp, dpi=80)
    plt.close(fig)


def _saved_model(folder):
    import tensorflow as tf

    module = tf.Module()
    module.v = tf.Variable(np.zeros(4000, np.float32))
    tf.saved_model.save(module, str(folder))


# Each writer aufera uses, through the atomic write its output goes through; each writes more than 2,000 bytes.
WRITERS = {
    "text": ("out.txt", lambda path: atomic_write_text(path, "x" * 5000)),
    "bytes": ("out.bin", lambda path: atomic_write_bytes(path, b"x" * 5000)),
    "numpy": ("out.npy", lambda path: atomic_write(path, lambda tmp: np.save(tmp, np.zeros(1000)))),
    "keras": ("out.keras", lambda path: atomic_write(path, _keras_model().save)),
    "tfrecord": ("out.tfrecord", lambda path: atomic_write(path, _tfrecords)),
    "matplotlib": ("out.png", lambda path: atomic_write(path, _figure)),
    "savedmodel": ("out_model", lambda path: atomic_directory(path, _saved_model)),
    "h5": ("m.weights.h5", lambda path: atomic_write_weights(path, _keras_model())),
    "h5_in_folder": (
        "preset",
        lambda path: atomic_directory(path, lambda d: atomic_write_weights(d / "m.weights.h5", _keras_model())),
    ),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_each_writer_past_the_limit_names_its_output_and_keeps_the_old_one(writer, tmp_path, capfd):
    name, write = WRITERS[writer]
    target = tmp_path / name
    if writer in ("savedmodel", "h5_in_folder"):
        target.mkdir()
        (target / "old.txt").write_text("complete")
    else:
        target.write_bytes(b"complete")
    before = tree(tmp_path)
    with pytest.raises(WriteError) as caught, file_size_limit(2000):
        write(target)
    assert (caught.value.errno, caught.value.filename) == (errno.EFBIG, str(target))
    assert str(caught.value) == f"cannot write {target}: {EFBIG}"
    assert tree(tmp_path) == before  # the old output, and no temporary file
    assert "Traceback" not in capfd.readouterr().err  # HDF5 never met the failed write (no h5py tracebacks)
    write(target)  # with space again
    assert tree(tmp_path) != before


def test_keras_weights_past_the_limit_are_one_error_not_a_crash(tmp_path):
    """HDF5 cannot close a file whose writes failed: `model.save_weights` past a file-size limit (or onto a full
    tmpfs) kills the process with a segmentation fault as h5py frees the file. `atomic_write_weights` lays the file out
    in memory and lets Python write it: the error is a WriteError, and the process lives on. In a child process, so
    that a crash is a failed test and not the end of the test run."""
    code = f"""
import gc, resource, signal, sys
import keras
from aufera.errors import WriteError
from aufera.files import atomic_write_weights
model = keras.Sequential([keras.Input((64,))] + [keras.layers.Dense(64) for _ in range(10)])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))
try:
    atomic_write_weights({str(tmp_path / "m.weights.h5")!r}, model)
except WriteError as error:
    print(error)
gc.collect()
print("alive")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [f"cannot write {tmp_path / 'm.weights.h5'}: {EFBIG}", "alive"]
    assert list(tmp_path.iterdir()) == []


def test_keras_weights_written_through_memory_load_as_save_weights_writes_them(tmp_path):
    model = _keras_model()
    atomic_write_weights(tmp_path / "a.weights.h5", model)
    model.save_weights(tmp_path / "b.weights.h5")
    loaded = []
    for name in ("a.weights.h5", "b.weights.h5"):
        other = _keras_model()
        other.load_weights(tmp_path / name)
        loaded.append(other.get_weights())
    for a, b, c in zip(*loaded, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


# Failed writes as each layer reports a full disk: Python (errno, no file name), TensorFlow's file system (the
# file and the OS message in the text), TFDS (TensorFlow's error re-raised as RuntimeError), h5py (the OS
# message in the text, errno in the attribute).
def _tf_error(path, number):
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, f"{path}; {os.strerror(number)}")


def _tfds_error(path, number):
    try:
        raise _tf_error(path, number)
    except Exception as error:
        try:
            raise RuntimeError(f'Failed to finalize writing of split "train": {error}') from error
        except RuntimeError as outer:
            return outer


LAYERS = {
    "python": lambda tmp, n: OSError(n, os.strerror(n)),
    "tensorflow": _tf_error,
    "tfds": _tfds_error,
    "h5py": lambda tmp, n: OSError(
        n,
        f"Unable to synchronously write to file (file write failed: filename = '{tmp}', "
        f"errno = {n}, error message = '{os.strerror(n)}')",
    ),
}


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_a_full_disk_as_each_layer_reports_it_names_the_output(layer, number, tmp_path):
    target = tmp_path / "out.bin"

    def fail(tmp):
        Path(tmp).write_bytes(b"half")
        raise LAYERS[layer](tmp, number)

    with pytest.raises(WriteError) as caught:
        atomic_write(target, fail)
    assert (caught.value.errno, caught.value.filename) == (number, str(target))
    assert list(tmp_path.iterdir()) == []
    # The command line's last resort (no target known): the file named in the error's text, else none.
    found = as_write_error(LAYERS[layer](str(tmp_path / "x.tfrecord"), number))
    assert found is not None and found.errno == number
    assert found.filename == (str(tmp_path / "x.tfrecord") if layer in ("tensorflow", "tfds") else "(a file not named)")


def test_errors_that_are_not_a_failed_write_are_left_alone(tmp_path):
    assert as_write_error(ValueError("Received: x=1")) is None
    assert as_write_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "in.csv")) is None
    # Permission denied on reading an input is not a write unless it happens inside one.
    assert as_write_error(PermissionError(errno.EACCES, "Permission denied", "in.csv")) is None
    with pytest.raises(ValueError):
        atomic_write(tmp_path / "a.txt", lambda tmp: int("x"))
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_prints_a_failed_write_as_one_line_exit_1(capsys, tmp_path):
    from aufera.cli import run_command

    def full(args):
        atomic_write_text(tmp_path / "report.md", "x")
        raise AssertionError("not reached")

    def tf_full(args):
        raise _tfds_error(tmp_path / "incomplete" / "a.tfrecord", errno.ENOSPC)

    with file_size_limit(0):
        assert run_command("aufera demo", full, None) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"aufera demo: error: cannot write {tmp_path / 'report.md'}: {EFBIG}; rerun the command once it can be written\n"
    )
    assert run_command("aufera demo", tf_full, None) == 1
    err = capsys.readouterr().err
    assert err == (
        f"aufera demo: error: cannot write {tmp_path / 'incomplete' / 'a.tfrecord'}: {ENOSPC}; "
        "free some space and rerun the command\n"
    )
    with pytest.raises(ZeroDivisionError):
        run_command("aufera demo", lambda args: 1 / 0, None)


# === aufera synth ===


def _tiny_synth_config():
    from aufera.synth.config import SynthConfig

    return SynthConfig(**TINY_CORPUS)


def test_synth_stopped_by_a_full_disk_at_each_step_resumes_to_the_same_corpus(tiny_corpus, tmp_path):
    """The corpus manifest, the subjects file, a video: each fails in turn; every rerun goes on from there."""
    from aufera.synth.writer import write_corpus

    expected = tree(tiny_corpus)
    sizes = {name: len(data) for name, data in expected.items()}
    manifest, subjects = sizes["groundtruth/corpus.json"], sizes["groundtruth/subjects.json"]
    small = max(size for name, size in sizes.items() if not name.endswith(".mp4"))
    assert manifest < subjects <= small < max(size for name, size in sizes.items() if name.endswith(".mp4"))
    out = tmp_path / "corpus"
    failed = []
    for limit in (manifest - 1, subjects - 1, small):
        with pytest.raises(WriteError) as caught, file_size_limit(limit):
            write_corpus(out, _tiny_synth_config(), workers=1, progress=False)
        failed.append(caught.value)
        now = tree(out)
        assert not any(name.startswith(".") or "/." in name for name in now)  # no temporary or partial file
        assert all(data == expected[name] for name, data in now.items())  # what is there is complete
    assert [Path(e.filename).relative_to(out).as_posix() for e in failed[:2]] == [
        "groundtruth/corpus.json",
        "groundtruth/subjects.json",
    ]
    video = Path(failed[2].filename).relative_to(out).as_posix()
    assert video.endswith(".mp4") and sizes[video] > small and video not in tree(out)
    # A session counts as written once its ground truth is: the one that failed has none of its files.
    session = Path(video).stem.rsplit("_", 1)[0]
    assert not [name for name in tree(out) if session in name]
    assert all(e.errno == errno.EFBIG for e in failed)
    result = write_corpus(out, _tiny_synth_config(), workers=1, progress=False)
    assert result["written"] >= 1
    assert tree(out) == expected


def _can_mount_a_private_tmpfs(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"], capture_output=True
    )
    probe.rmdir()
    return done.returncode == 0


def test_synth_on_a_full_disk_is_one_line_and_the_rerun_after_freeing_space_completes(tiny_corpus, tmp_path):
    """A real ENOSPC: the corpus folder is a 96 KiB tmpfs in a private mount namespace, then made larger."""
    if not _can_mount_a_private_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs in a user namespace here (unshare -rm)")
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    out = disk / "corpus"
    synth = " ".join([sys.executable, "-m", "aufera.cli", "synth", str(out), *TINY_SYNTH_FLAGS, "--quiet"])
    script = "\n".join(
        [
            f"mount -t tmpfs -o size=96k tmpfs {disk} || exit 90",
            f"{synth} > {tmp_path}/out1 2> {tmp_path}/err1; echo $? > {tmp_path}/rc1",
            f"cp -a {out} {tmp_path}/after_failure",
            f"mount -o remount,size=16m {disk}",  # space is freed
            f"{synth} > {tmp_path}/out2 2> {tmp_path}/err2; echo $? > {tmp_path}/rc2",
            f"cp -a {out} {kept}",
        ]
    )
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    err = (tmp_path / "err1").read_text()
    assert (tmp_path / "rc1").read_text().strip() == "1", err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert (
        lines[0].startswith(f"aufera synth: error: cannot write {out}/") and f": {ENOSPC}; free some space" in lines[0]
    )
    expected = tree(tiny_corpus)
    after = tree(tmp_path / "after_failure")
    assert not any(name.startswith(".") or "/." in name for name in after)
    assert all(data == expected[name] for name, data in after.items())  # complete files only
    assert (tmp_path / "rc2").read_text().strip() == "0", (tmp_path / "err2").read_text()
    assert tree(kept) == expected


# === aufera train (its first write) ===


def test_train_whose_first_write_fails_is_one_line_exit_1(tiny_dataset, tmp_path, capsys):
    from aufera.cli import main

    run = tmp_path / "run"
    with file_size_limit(100):
        status = main(
            ["train", "--config", "cpu-small", "--data", str(tiny_dataset), "--out", str(run), "--quiet", *TINY_TRAIN]
        )
    assert status == 1
    captured = capsys.readouterr()
    assert (
        captured.err
        == f"aufera train: error: cannot write {run / 'config.yaml'}: {EFBIG}; rerun the command once it can be written\n"
    )
    assert list(run.iterdir()) == []


# === End to end, under a file-size limit: prepare, train, export (minutes) ===


@pytest.mark.slow
def test_prepare_past_the_limit_is_one_line_and_the_rerun_gives_the_same_dataset(tiny_corpus, tiny_dataset, tmp_path):
    """The face cache files pass, the shards do not: TFDS's temporary folder is removed, the faces stay cached."""
    out = tmp_path / "data"
    done = aufera("prepare", "--data-dir", tiny_corpus, "--out", out, "--workers=1", "--quiet", limit=100_000)
    dataset = out / Path(tiny_dataset).relative_to(Path(tiny_dataset).parents[2])
    assert done.returncode == 1, done.stderr
    assert_one_error_line(done.stderr, "prepare", dataset, EFBIG, startup_noise=True)
    assert not dataset.exists() and not list((out / "fera2017").rglob("*.tfrecord*"))
    cached = tree(out / "face_cache")
    assert cached and len(cached) == len(list(Path(tiny_dataset).parents[2].glob("face_cache/*")))
    done = aufera("prepare", "--data-dir", tiny_corpus, "--out", out, "--workers=1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert (dataset / "mean_image.npy").read_bytes() == (Path(tiny_dataset) / "mean_image.npy").read_bytes()
    # The same records in the same order. Not the same bytes: protobuf writes a tf.train.Example's features (a
    # map) in an order that changes from one process to the next, in runs that never failed as well.
    import tensorflow as tf

    from tfrecords_tools import iter_frames

    def examples(shard):
        return [tf.train.Example.FromString(frame.data) for frame in iter_frames(shard, read_data=True)]

    shards = sorted(p.name for p in Path(tiny_dataset).glob("*.tfrecord*"))
    assert shards and sorted(p.name for p in dataset.glob("*.tfrecord*")) == shards
    for name in shards:
        assert examples(dataset / name) == examples(Path(tiny_dataset) / name), name


@pytest.mark.slow
def test_train_past_the_limit_at_a_checkpoint_resumes_to_the_same_run(tiny_dataset, tmp_path):
    """Config and history files pass, the first model checkpoint does not; the rerun equals a run never stopped."""
    runs = {name: tmp_path / name for name in ("reference", "stopped")}
    args = ["train", "--config", "cpu-small", "--data", tiny_dataset, "--quiet", *TINY_TRAIN]
    done = aufera(*args, "--out", runs["reference"])
    assert done.returncode == 0, done.stderr
    done = aufera(*args, "--out", runs["stopped"], limit=100_000)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("aufera train: error: cannot write ") and f": {EFBIG}; " in lines[0]
    assert not (runs["stopped"] / "network1.keras").exists()
    assert not (runs["stopped"] / "checkpoints" / "network1" / "state.json").exists()
    done = aufera(*args, "--out", runs["stopped"])
    assert done.returncode == 0, done.stderr
    for name in ("history_network1.csv", "history_network2.csv"):
        columns = [[row.split(",")[:-1] for row in (runs[r] / name).read_text().splitlines()] for r in runs]
        assert columns[0] == columns[1], name  # every loss and score, the wall-clock seconds aside
    weights = [(runs[r] / "preset" / "model.weights.h5").read_bytes() for r in runs]
    assert weights[0] == weights[1]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_export_past_the_limit_is_one_line_and_the_rerun_completes(fmt, tmp_path):
    """The SavedModel's variables and the TFLite converter's temporary SavedModel pass no file-size limit of 100 kB."""
    import tempfile

    out = tmp_path / ("model.tflite" if fmt == "tflite" else "model")
    done = aufera("export", "--format", fmt, "--out", out, limit=100_000)
    assert done.returncode == 1, done.stderr
    if fmt == "savedmodel":
        assert_one_error_line(done.stderr, "export", out, EFBIG)
    else:  # the file that failed is the converter's SavedModel, in the system's temporary folder (then removed)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        prefix = f"aufera export: error: cannot write {Path(tempfile.gettempdir()) / 'aufera_tflite_'}"
        assert lines[0].startswith(prefix) and f": {EFBIG}; " in lines[0], lines[0]
        assert not Path(lines[0].split("cannot write ", 1)[1].split(": ", 1)[0]).exists()
    assert list(tmp_path.iterdir()) == []
    done = aufera("export", "--format", fmt, "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
