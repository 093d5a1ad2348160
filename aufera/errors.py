"""The project's error class."""


class AuferaError(Exception):
    """A failure caused by the user's input or data (a bad argument, a damaged
    file, a folder that is not what it should be).

    The command line prints its message as one line and exits with status 2;
    the message names the file or argument and the problem.
    """
