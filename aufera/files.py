"""Writing files so that none is ever half-written.

Every output aufera writes (label files, ground truth, caches, configs,
checkpoints, reports) goes through `atomic_write`: the content is written to
a temporary file in the same folder, then renamed over the target, so a file
that exists under its final name is complete, and a run killed midway leaves
at most a hidden temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from aufera.errors import AuferaError


def _umask() -> int:
    """The process's file mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write: Callable[[str], object]) -> Path:
    """Writes `path` through a temporary file, then renames it into place.

    Args:
        path: str or Path. The target file; its folder must exist.
        write: callable taking the temporary file's path (a str with the
            target's suffix, so writers that choose a format by the extension
            work) and writing the content there.

    Returns:
        The target path.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the output gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """`atomic_write` of bytes."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path, text: str) -> Path:
    """`atomic_write` of text (UTF-8, line endings as given)."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)

    return atomic_write(path, write)


def atomic_directory(path, write: Callable[[Path], object]) -> Path:
    """Writes a whole folder through a temporary folder beside it, then renames it into place.

    `write` fills the temporary folder; the folder appears under its final
    name only once complete (an existing folder of that name is replaced). A
    run killed midway leaves at most a hidden temporary folder behind.

    Args:
        path: str or Path. The target folder; its parent must exist.
        write: callable taking the temporary folder (a Path) and writing the content there.

    Returns:
        The target path.
    """
    import shutil

    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the folder gets the usual mode
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, as 64 hexadecimal digits."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_new_folder(path) -> Path:
    """Refuses `path` unless it is missing or an empty folder; creates its parent.

    Raises:
        AuferaError: one line naming the path: it exists and is not an empty
            folder, or its parent cannot be created.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise AuferaError(f"{path}: exists and is not an empty folder; choose a new --out")
    _make_parent(path)
    return path


def check_new_file(path) -> Path:
    """Refuses `path` if anything exists there; creates its parent.

    Raises:
        AuferaError: one line naming the path: it exists, or its parent cannot be created.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise AuferaError(f"{path}: exists; choose a new --out")
    _make_parent(path)
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AuferaError(f"{path.parent}: cannot create the folder ({error.strerror or error})") from None
