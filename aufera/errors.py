"""The project's error classes."""

# The characters that break a line in a terminal or for `str.splitlines`; a file's name may hold any of them.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(text) -> str:
    """`text` with its line breaks written as escapes (a newline as the two characters "\\n"), so that a
    message naming any file or value stays one line."""
    return str(text).translate(_LINE_BREAKS)


class AuferaError(Exception):
    """A failure caused by the user's input or data (a bad argument, a damaged
    file, a folder that is not what it should be).

    The command line prints its message as one line and exits with status 2;
    the message names the file or argument and the problem. `str()` gives
    that line: line breaks in it (a file name holding one) are escaped.
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


class WriteError(OSError):
    """An output that cannot be written: the disk is full, a quota or a file-size limit is reached, the file
    system is read-only, the folder is not writable.

    An `OSError` (`errno`, `strerror`, `filename`) whose `filename` is the
    output the user asked for (not a hidden temporary file), whatever wrote
    it: Python, numpy, h5py, TensorFlow's C++ file system or OpenCV. Made by
    `aufera.files` from what those raise (`aufera.files.as_write_error`). The
    command line prints it as one line and exits with status 1.

    Args:
        errno: int or None. The OS error number (`errno.ENOSPC`, ...), None when no layer said it.
        strerror: str. The OS message, or what is known of the problem.
        filename: str. The output.

    Examples:

    ```python
    str(WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), "run/config.yaml"))
    # 'cannot write run/config.yaml: [Errno 28] No space left on device'
    ```
    """

    def __str__(self) -> str:
        problem = self.strerror if self.errno is None else f"[Errno {self.errno}] {self.strerror}"
        return one_line(f"cannot write {self.filename}: {problem}")
