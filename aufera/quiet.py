"""Hiding TensorFlow's start-up noise from the `aufera` command and its worker processes.

Importing TensorFlow prints, on every machine without a GPU, lines such as
"WARNING: All log messages before absl::InitializeLog() is called are
written to STDERR" and "Could not find cuda drivers on your machine": they
come from native code, before TensorFlow's own log level applies, so
`TF_CPP_MIN_LOG_LEVEL` alone does not hide them. `quiet_tensorflow()` sets
that level to 3 and wraps the first `import tensorflow` so that native
writes to stderr during the import are held back and given back without the
known start-up lines; anything else printed then still reaches stderr.

It does nothing when the user set `TF_CPP_MIN_LOG_LEVEL` (they chose what to
see) or ran `aufera --verbose` (which sets `AUFERA_QUIET_TF=0`). Worker
processes started by a quieted command inherit `AUFERA_QUIET_TF=1` and call
it again themselves.
Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

MARKER = "AUFERA_QUIET_TF"
NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_dnn\.cc|cuda_fft\.cc|cuda_blas\.cc"
    r"|cpu_feature_guard\.cc|To enable the following instructions|oneDNN custom operations are on"
    r"|computation_placer\.cc|TF-TRT Warning"
)


@contextlib.contextmanager
def filtered_stderr(pattern: re.Pattern = NOISE):
    """Holds back what is written to file descriptor 2 inside the block, then writes it without `pattern` lines."""
    sys.stderr.flush()
    fd = sys.stderr.fileno()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(True) if not pattern.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that filters stderr while it runs."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow() -> bool:
    """Hides TensorFlow's start-up lines in this process (see the module docstring).

    Returns:
        True when the import is quieted (or already was); False when the user
        set `TF_CPP_MIN_LOG_LEVEL` and the messages are left alone.
    """
    marker = os.environ.get(MARKER)
    if marker == "0" or (marker != "1" and "TF_CPP_MIN_LOG_LEVEL" in os.environ):
        return False
    os.environ[MARKER] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
    return True
