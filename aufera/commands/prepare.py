"""`aufera prepare`: FERA 2017 (or the synthetic corpus) -> the TFDS dataset of face crops."""

from __future__ import annotations

from pathlib import Path

from aufera.commands import validators as v
from aufera.errors import AuferaError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
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
    for flag, kind, default, metavar, what in (
        (
            "--image-size",
            v.int_range(32, 1024),
            132,
            "PX",
            "side of the square face crop (132: He et al.; 170: DRML; 200: CNN-LSTM; default 132)",
        ),
        (
            "--detect-every",
            v.positive_int,
            None,
            "K",
            "run MTCNN on every K-th frame and track in between (default: see docs/faces.md)",
        ),
        (
            "--margin",
            v.non_negative_float,
            None,
            "M",
            "crop margin around the face box, as a share of its side, at most 2 (default: see docs/faces.md)",
        ),
    ):
        p.add_argument(flag, type=kind, default=default, metavar=metavar, help=what)
    v.add_workers(p, "processes finding faces")
    p.add_argument(
        "--beam",
        action="store_true",
        help="build with Apache Beam (DirectRunner with --workers processes); needs apache-beam",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from aufera.data.faces import FaceConfig
    from aufera.data.prepare import prepare, summary_lines

    if not Path(args.data_dir).is_dir():
        raise AuferaError(f"--data-dir {args.data_dir}: no such folder")
    face = {}
    if args.detect_every is not None:
        face["detect_every"] = args.detect_every
    if args.margin is not None:
        face["margin"] = args.margin
    try:
        FaceConfig(image_size=args.image_size, **face)
    except ValueError as error:
        raise v.config_error(error, {"detect_every": "--detect-every", "margin": "--margin"}) from None
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
