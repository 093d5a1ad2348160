"""Writing files so that none is ever half-written, and a write that fails says which file and why.

Every output aufera writes (label files, ground truth, caches, configs,
checkpoints, reports) goes through `atomic_write`: the content is written to
a temporary file in the same folder, then renamed over the target, so a file
that exists under its final name is complete, and a run killed midway leaves
at most a hidden temporary file behind.

A write that fails for lack of space (or a quota, a file-size limit, a
read-only file system) is raised as one `aufera.errors.WriteError` naming
the output, whatever layer wrote it: Python and numpy raise `OSError`
without the file name, h5py an `OSError` whose text holds the OS message,
TensorFlow's C++ file system (TFRecord shards, SavedModels) an `OpError`
whose message ends in "PATH; No space left on device", OpenCV's video
writer nothing at all (`aufera.data.video.VideoWriter` reads its file
back). `as_write_error` reads all of these; `atomic_write`,
`atomic_directory` and `writing` apply it, and the command line prints the
result as one line. Keras weights go through `atomic_write_weights`: HDF5
writing to a full disk crashes the process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from aufera.errors import AuferaError, WriteError

# The OS errors that say an output cannot be written: those only a write meets
# (no space, a quota, a file-size limit, a read-only file system), and EACCES
# and EPERM, which count only inside a write (`writing`, the atomic writes):
# elsewhere they may come from reading an input.
WRITE_ONLY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
WRITE_ERRNOS = WRITE_ONLY_ERRNOS | {errno.EACCES, errno.EPERM}

# TensorFlow's file system and h5py give the OS message as text: "PATH; No space
# left on device" (TensorFlow), "errno = 28, error message = 'No space left on
# device'" (h5py, HDF5's own wording).
_STRERRORS = {os.strerror(number).lower(): number for number in WRITE_ERRNOS}
_TF_WRITE = re.compile(r"(\S+); (" + "|".join(re.escape(os.strerror(n)) for n in sorted(WRITE_ERRNOS)) + r")\b", re.I)
_ERRNO_TEXT = re.compile(r"\berrno = (\d+)")


def _umask() -> int:
    """The process's file mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# === Write errors ===


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then the errors it was raised from or while handling (TFDS re-raises TensorFlow's as RuntimeError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _inside(name, folder) -> bool:
    """Whether the path `name` is `folder` or lies under it."""
    if name is None or folder is None:
        return False
    name, folder = os.path.abspath(os.fspath(name)), os.path.abspath(os.fspath(folder))
    return name == folder or name.startswith(folder.rstrip(os.sep) + os.sep)


def _stated_failure(error: BaseException, write_only: bool) -> tuple[int, str | None] | None:
    """(errno, path or None) of a failed write that `error` or its chain states, in its attributes or its text."""
    wanted = WRITE_ONLY_ERRNOS if write_only else WRITE_ERRNOS
    for link in _chain(error):
        if isinstance(link, OSError) and link.errno in wanted:
            return link.errno, link.filename
        text = str(link)
        match = _TF_WRITE.search(text)
        if match and _STRERRORS.get(match.group(2).lower()) in wanted:
            return _STRERRORS[match.group(2).lower()], match.group(1)
        match = _ERRNO_TEXT.search(text)
        if match and int(match.group(1)) in wanted:
            return int(match.group(1)), None
    return None


def _probe(path) -> int | None:
    """The errno of writing one more byte to the file `path` now; None when that works (or `path` is a folder).

    numpy (`np.save` of a real file) says only that fewer bytes were written
    than asked, OpenCV's video writer says nothing at all; the OS says why
    when asked again. A file the probe creates is removed.
    """
    if path is None or os.path.isdir(path):
        return None
    existed = os.path.exists(path)
    try:
        with open(path, "ab") as stream:
            stream.write(b"\0")
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        return error.errno
    finally:
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return None


def as_write_error(error: BaseException, target=None, tmp=None) -> WriteError | None:
    """The `WriteError` naming the output that `error`, raised while writing it, amounts to; None if it is none.

    Args:
        error: the exception raised by the writer (Python, numpy, h5py,
            TensorFlow, TFDS) or anything above it.
        target: str, Path or None. The output being written. Within a write
            (`target` given) an `OSError` about the output or about no named
            file is a failed write, whatever its errno; without one (the
            command line's last resort) only the errors that cannot come from
            reading are (ENOSPC, EDQUOT, EFBIG, EROFS), named by the file
            their error names.
        tmp: str, Path or None. The temporary file or folder written in
            place of `target`: a failure there is named as `target`, and
            its errno is asked of the OS again when the writer gave none.

    Returns:
        A `WriteError`, or None when `error` is not a failed write.
    """
    within = target is not None
    if isinstance(error, WriteError):  # from a write inside this one (a file of a folder written atomically)
        if not _inside(error.filename, tmp):
            return error
        return WriteError(error.errno, error.strerror, os.fspath(target))

    def ours(name) -> bool:
        return name is None or _inside(name, tmp) or (within and _inside(name, target))

    stated = _stated_failure(error, write_only=not within)
    if stated is not None:
        number, name = stated
        if not ours(name) and number not in WRITE_ONLY_ERRNOS:
            return None  # EACCES on another file: maybe an input read while writing; its own error says which
        name = target if ours(name) else name
        return WriteError(number, os.strerror(number), os.fspath(name) if name is not None else "(a file not named)")
    if within and isinstance(error, OSError) and ours(error.filename):
        number = error.errno if error.errno is not None else _probe(tmp)
        if number is None:  # e.g. numpy's "1000 requested and 234 written" with nothing more to ask
            return WriteError(None, error.strerror or str(error), os.fspath(target))
        return WriteError(number, os.strerror(number), os.fspath(target))
    return None


@contextlib.contextmanager
def writing(target, tmp=None) -> Iterator[None]:
    """Raises what fails in the block as a `WriteError` naming `target` when it is a failed write.

    For writers that do not go through `atomic_write` (TFDS writing its
    shards, Keras checkpoints): `with writing(path): model.save(path)`.
    (Not for `model.save_weights`: see `atomic_write_weights`.)

    Args:
        target: str or Path. The output the block writes.
        tmp: str, Path or None. Where the block writes in place of `target` (see `as_write_error`).

    Raises:
        WriteError: the block failed to write.
    """
    try:
        yield
    except Exception as error:
        failure = as_write_error(error, target, tmp)
        if failure is None:
            raise
        raise failure from None


# === Atomic writes ===


def atomic_write(path, write: Callable[[str], object]) -> Path:
    """Writes `path` through a temporary file, then renames it into place.

    Args:
        path: str or Path. The target file; its folder must exist.
        write: callable taking the temporary file's path (a str with the
            target's suffix, so writers that choose a format by the extension
            work; ".weights.h5" for Keras weights) and writing the content there.

    Returns:
        The target path.

    Raises:
        WriteError: the file cannot be written (no space, a quota or a
            file-size limit, a read-only or unwritable folder), naming
            `path`; the old file, if any, is kept, and the temporary file is
            removed.
    """
    path = Path(path)
    # The target's suffix, or two of them for Keras weights (`model.save_weights` wants "*.weights.h5").
    suffix = ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix
    with writing(path, path.parent):  # the temporary file is the target's, whatever its name
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(handle)
    try:
        with writing(path, tmp):
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


def atomic_write_weights(path, model) -> Path:
    """`model.save_weights(path)` as one atomic write of a `.weights.h5` file.

    HDF5 cannot be left to write to the disk itself: when a write of a file
    fails (a full disk, a file-size limit) it cannot close that file, and the
    process later dies of a segmentation fault as h5py frees it (measured with
    h5py 3.14 and HDF5 1.14.6: `aufera export --format preset` onto a full
    tmpfs printed its error line, then crashed with exit status 139). So the
    file is laid out in memory, by h5py on a `BytesIO` (as Keras lays out
    the weights inside a `.keras` archive), and written by Python. It holds
    what `model.save_weights` writes and loads with `model.load_weights`.

    Args:
        path: str or Path. The target, named `*.weights.h5`; its folder must exist.
        model: keras.Model. A built model.

    Returns:
        The target path.

    Raises:
        WriteError: see `atomic_write`.
    """
    import io

    try:
        from keras.src.saving.saving_lib import H5IOStore, _save_state
    except ImportError:  # a Keras that arranges its saving otherwise: its own writer
        return atomic_write(path, model.save_weights)
    buffer = io.BytesIO()
    store = H5IOStore(buffer, mode="w")
    try:
        _save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    return atomic_write_bytes(path, buffer.getvalue())


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

    Raises:
        WriteError: a file of the folder cannot be written (see
            `atomic_write`), naming `path`; an existing folder is kept, and
            the temporary folder is removed.
    """
    import shutil

    path = Path(path)
    with writing(path, path.parent):
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        with writing(path, tmp):
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
