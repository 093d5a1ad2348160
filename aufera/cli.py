"""The `aufera` command: builds the parser from `aufera.commands` and dispatches.

Subcommands (one module each in `aufera.commands`):
    synth     write the synthetic multi-view AU corpus in the FERA 2017 layout
    prepare   turn FERA 2017 (or the synthetic corpus) into the TFDS dataset of face crops
    train     Network1, then Network2 on its frozen backbone
    evaluate  metrics, the paper's Tables 1-2 and Fig. 7 for a trained run
    reproduce the main job: all of the above on the synthetic corpus or FERA 2017
    predict   AU presence per frame of videos and images: one CSV per input (OpenFace's columns)
    export    a preset or a run as a SavedModel or .tflite file (uint8 face crops in) or a preset folder

Every failure on bad input is one line naming the file or argument and the
problem, with exit status 2. TensorFlow's start-up messages are hidden
unless `--verbose` is given or `TF_CPP_MIN_LOG_LEVEL` is set.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from aufera import __version__
from aufera.commands import COMMANDS
from aufera.errors import AuferaError, one_line


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad argument as one line (and `--help` for the usage)."""

    def error(self, message):
        # argparse echoes unrecognized arguments as they are: one holding a line break is escaped.
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The `aufera` parser, with one subparser per module of `aufera.commands` (imports no TensorFlow)."""
    parser = OneLineParser(
        prog="aufera",
        description="Multi-view facial action unit detection for FERA 2017 (He et al. 2019), in TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"aufera {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up messages (hidden by default)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"aufera.commands.{name}").add_parser(sub)
    return parser


def run_command(prog: str, run, args) -> int:
    """Runs `run(args)` as a command: returns its exit status (0 when it returns no int).

    An `AuferaError` (bad input) becomes one line on stderr naming `prog`, and
    exit status 2; an output that cannot be written (no space left, a quota
    or file-size limit, a read-only folder: `aufera.files.as_write_error`)
    one line naming the file and the OS error, exit status 1; Ctrl-C says the
    command can be rerun to continue, status 130.
    """
    try:
        status = run(args)
    except AuferaError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    except Exception as error:
        from aufera.files import as_write_error

        failure = as_write_error(error)
        if failure is None:
            raise
        space = failure.errno in (errno.ENOSPC, errno.EDQUOT)
        hint = "free some space and rerun the command" if space else "rerun the command once it can be written"
        print(f"{prog}: error: {failure}; {hint}", file=sys.stderr)
        return 1
    return status if isinstance(status, int) else 0


def run_script(prog: str, parser, run, argv=None) -> int:
    """Parses `argv` with `parser`, then `run_command`: the `main` of a script (the examples); exit status 2 on bad input.

    A bad argument is the one line the parser prints (an `OneLineParser`)
    and status 2; an `AuferaError` from `run` likewise.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # a bad argument: one line printed, status 2
        return exit_.code
    return run_command(prog, run, args)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from aufera.quiet import MARKER, quiet_tensorflow

    if args.verbose:
        os.environ[MARKER] = "0"  # worker processes keep TensorFlow's messages too
    else:
        quiet_tensorflow()
        # FFmpeg's own lines on a damaged video ("moov atom not found"); aufera names the file and the problem.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    return run_command(f"aufera {args.command}", args.run, args)


if __name__ == "__main__":
    sys.exit(main())
