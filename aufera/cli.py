"""The `aufera` command.

Subcommands:
    synth    write the synthetic multi-view AU corpus in the FERA 2017 layout
    prepare  turn FERA 2017 (or the synthetic corpus) into the TFDS dataset of face crops
    train    Network1, then Network2 on its frozen backbone
    evaluate metrics, the paper's Tables 1-2 and Fig. 7 for a trained run
    reproduce the main job: all of the above on the synthetic corpus or FERA 2017

Every failure on bad input is one line naming the file or argument and the
problem, with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from aufera import __version__
from aufera.errors import AuferaError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _floats(count: int):
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {text!r}") from None
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {len(values)} in {text!r}")
        return values

    return parse


_LEVELS = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}


def _level(text: str) -> float:
    if text.upper() in _LEVELS:
        return _LEVELS[text.upper()]
    raise argparse.ArgumentTypeError(f"expected an intensity level A, B, C, D or E, got {text!r}")


def _add_synth(sub) -> None:
    from aufera.synth.config import SynthConfig, default_workers

    d = SynthConfig()
    p = sub.add_parser(
        "synth",
        help="write the synthetic multi-view AU corpus in the FERA 2017 layout",
        description="Write the synthetic multi-view AU corpus (aufera's embedded default data) in the FERA 2017 "
        "layout: 9 views per session as .mp4 videos, one occurrence CSV per session, ground truth in groundtruth/. "
        "Rerunning the same command after an interruption completes the corpus.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the corpus into (new or empty)")
    p.add_argument(
        "--train-subjects",
        type=_positive_int,
        default=d.train_subjects,
        metavar="N",
        help=f"subjects in the training part (default {d.train_subjects})",
    )
    p.add_argument(
        "--valid-subjects",
        type=_positive_int,
        default=d.valid_subjects,
        metavar="N",
        help=f"subjects in the validation part, disjoint from training (default {d.valid_subjects})",
    )
    p.add_argument(
        "--tasks", type=_positive_int, default=d.tasks, metavar="N", help=f"sessions per subject (default {d.tasks})"
    )
    p.add_argument(
        "--frames", type=_positive_int, default=d.frames, metavar="N", help=f"frames per session (default {d.frames})"
    )
    p.add_argument(
        "--size",
        type=_positive_int,
        default=d.size,
        metavar="PX",
        help=f"frame width and height in pixels (default {d.size})",
    )
    p.add_argument("--seed", type=_positive_int, default=d.seed, metavar="S", help=f"random seed (default {d.seed})")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=default_workers(),
        metavar="N",
        help="worker processes (default: the number of CPU cores, at most 8)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace what OUT_DIR holds")
    p.add_argument(
        "--preview",
        nargs="?",
        const="",
        default=None,
        metavar="PNG",
        help="also write a preview figure (one subject in the 9 views, each AU at apex next to "
        "neutral); default path OUT_DIR/preview.png",
    )
    p.add_argument(
        "--base-rates",
        type=_floats(10),
        default=None,
        metavar="R1,...,R10",
        help="share of frames with each AU present, in the order AU1,AU4,AU6,AU7,AU10,AU12,AU14,"
        "AU15,AU17,AU23 (default: FERA 2017 training set)",
    )
    p.add_argument(
        "--unknown-rate",
        type=float,
        default=d.unknown_rate,
        metavar="P",
        help=f"share of labels written as 9, unknown (default {d.unknown_rate})",
    )
    p.add_argument(
        "--present-from",
        type=_level,
        default="A",
        metavar="LEVEL",
        help="intensity level A-E from which an AU counts as present (default A)",
    )
    p.add_argument(
        "--yaws",
        type=_floats(3),
        default=d.yaws,
        metavar="Y1,Y2,Y3",
        help="yaw angles of the view grid in degrees (default -40,0,40)",
    )
    p.add_argument(
        "--pitches",
        type=_floats(3),
        default=d.pitches,
        metavar="P1,P2,P3",
        help="pitch angles of the view grid in degrees (default -20,0,20)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_synth)


def _add_prepare(sub) -> None:
    from aufera.synth.config import default_workers

    p = sub.add_parser(
        "prepare",
        help="turn FERA 2017 (or the synthetic corpus) into the TFDS dataset of face crops",
        description="Find the face in every frame of every view with MTCNN (detection on keyframes, tracking in "
        "between, cached per video), crop it square, grayscale, resize, and write the TFDS dataset with splits "
        "train and validation, the training mean image and a report. Rerunning after an interruption reuses the "
        "cached faces.",
    )
    p.add_argument(
        "--data-dir",
        required=True,
        metavar="FERA_ROOT",
        help="folder with FERA17_Train_MV/, Train_Occ/, FERA17_Valid_MV/, Valid_Occ/ "
        "(a FERA 2017 copy or a corpus written by aufera synth)",
    )
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="TFDS data folder to write the dataset into")
    p.add_argument(
        "--image-size",
        type=_positive_int,
        default=132,
        metavar="PX",
        help="side of the square face crop (132: He et al.; 170: DRML; 200: CNN-LSTM; default 132)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=default_workers(),
        metavar="N",
        help="processes finding faces (default: the number of CPU cores, at most 8)",
    )
    p.add_argument(
        "--detect-every",
        type=_positive_int,
        default=None,
        metavar="K",
        help="run MTCNN on every K-th frame and track in between (default: see docs/faces.md)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="M",
        help="crop margin around the face box, as a share of its side (default: see docs/faces.md)",
    )
    p.add_argument(
        "--beam",
        action="store_true",
        help="build with Apache Beam (DirectRunner with --workers processes); needs apache-beam",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_prepare)


def _run_prepare(args) -> int:
    from aufera.data.prepare import prepare, summary_lines

    if not 32 <= args.image_size <= 1024:
        raise AuferaError(f"--image-size must be from 32 to 1024. Received: {args.image_size}")
    face = {}
    if args.detect_every is not None:
        face["detect_every"] = args.detect_every
    if args.margin is not None:
        face["margin"] = args.margin
    try:
        from aufera.data.faces import FaceConfig

        FaceConfig(image_size=args.image_size, **face)
    except (TypeError, ValueError) as error:
        raise AuferaError(str(error)) from None
    if args.beam:
        try:
            import apache_beam  # noqa: F401
        except ImportError:
            raise AuferaError("--beam needs Apache Beam: pip install 'aufera[beam]'") from None
    report = prepare(
        args.data_dir,
        args.out,
        image_size=args.image_size,
        workers=args.workers,
        face=face,
        beam=args.beam,
        progress=not args.quiet,
    )
    print("\n".join(summary_lines(report)))
    return 0


def _run_synth(args) -> int:
    from pathlib import Path

    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    kwargs = dict(
        train_subjects=args.train_subjects,
        valid_subjects=args.valid_subjects,
        tasks=args.tasks,
        frames=args.frames,
        size=args.size,
        seed=args.seed,
        unknown_rate=args.unknown_rate,
        present_from=args.present_from,
        yaws=args.yaws,
        pitches=args.pitches,
    )
    if args.base_rates is not None:
        kwargs["base_rates"] = args.base_rates
    try:
        config = SynthConfig(**kwargs)
    except ValueError as error:
        raise AuferaError(str(error)) from None
    if args.workers < 1:
        raise AuferaError(f"--workers must be >= 1. Received: {args.workers}")
    result = write_corpus(args.out_dir, config, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    out = Path(args.out_dir)
    print(
        f"corpus: {out} ({result['sessions']} sessions, {result['written']} written now; "
        f"{config.train_subjects} training and {config.valid_subjects} validation subjects, "
        f"{config.frames} frames x 9 views per session)"
    )
    from aufera.au import AU_KEYS
    from aufera.synth.writer import corpus_base_rates

    rates = corpus_base_rates(out)
    for split in ("train", "validation"):
        shown = " ".join(f"{k} {r:.2f}" for k, r in zip(AU_KEYS, rates[split], strict=True))
        print(f"AU base rates ({split}, known labels): {shown}; unknown {rates[split + '_unknown'][0]:.3f}")
    if args.preview is not None:
        from aufera.synth.preview import write_preview

        path = Path(args.preview) if args.preview else out / "preview.png"
        write_preview(out, path)
        print(f"preview: {path}")
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Reports a bad argument as one line (and `--help` for the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="aufera",
        description="Multi-view facial action unit detection for FERA 2017 (He et al. 2019), in TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"aufera {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    sub.required = True
    _add_synth(sub)
    _add_prepare(sub)
    from aufera.evaluation.command import add_cli as add_evaluate
    from aufera.reproduce import add_cli as add_reproduce
    from aufera.training import add_cli as add_train

    add_train(sub)
    add_evaluate(sub)
    add_reproduce(sub)
    return parser


def run_command(prog: str, run, args) -> int:
    """Runs `run(args)` as a command: returns its exit status (0 when it returns no int).

    An `AuferaError` (bad input) becomes one line on stderr naming `prog`, and
    exit status 2; Ctrl-C says the command can be rerun to continue, status 130.
    """
    try:
        status = run(args)
    except AuferaError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    return status if isinstance(status, int) else 0


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(f"aufera {args.command}", args.run, args)


if __name__ == "__main__":
    sys.exit(main())
