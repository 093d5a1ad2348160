"""Shared test setup: the TensorFlow log level (set here only) and one tiny synthetic dataset for all tests.

`tests/` has no `__init__.py`, so pytest puts it on `sys.path` and test files
import the shared model checks as `from model_harness import ...`.
"""

import os

# The one place the TensorFlow C++ log level is set for the tests (and, through
# os.environ, for the subprocesses they start). Before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# The tiny synthetic corpus every test that needs a prepared dataset shares:
# 2 training subjects and 1 validation subject, 1 task, 9 views, 4 frames of
# 96 x 96 pixels, i.e. 72 training and 36 validation frames.
TINY_CORPUS = {"train_subjects": 2, "valid_subjects": 1, "tasks": 1, "frames": 4, "size": 96}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The directory of the tiny synthetic corpus (`TINY_CORPUS`), written once per session. Do not modify it."""
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    root = tmp_path_factory.mktemp("tiny_corpus")
    write_corpus(root, SynthConfig(**TINY_CORPUS), workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tiny_corpus, tmp_path_factory):
    """The prepared TFDS dataset of `tiny_corpus` (the path `prepare` reports), built once. Do not modify it."""
    from aufera.data.prepare import prepare

    return prepare(tiny_corpus, tmp_path_factory.mktemp("tiny_dataset"), workers=1, progress=False)["dataset"]
