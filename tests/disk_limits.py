"""Running out of disk space in a test: a file-size limit in this process or in a command, and a snapshot of a folder.

A file-size limit (`RLIMIT_FSIZE`, with SIGXFSZ ignored so that the write fails instead of killing the process)
makes every write past N bytes of a file fail with the OS error EFBIG, on every write path: Python, numpy, h5py,
TensorFlow's C++ file system, OpenCV's video writer. That is what a disk that fills up does to a write, with
ENOSPC (see tests/test_full_disk.py for a real one, on a tmpfs).
"""

import contextlib
import resource
import signal
from pathlib import Path


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """In this process, every write past byte `nbytes` of a file fails with EFBIG, as on a full disk."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the OS error, not the signal that kills
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def limit_in_child(nbytes: int):
    """A `preexec_fn` for `subprocess.run`: the command runs under `file_size_limit(nbytes)`."""

    def start():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return start


def tree(root) -> dict:
    """Every file under `root` (hidden ones too): relative path -> bytes."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
