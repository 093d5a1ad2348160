"""`aufera predict`: AU presence per frame of videos and images, one CSV per input in OpenFace's layout."""

from __future__ import annotations

import sys

from aufera.commands import validators as v


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="detect AUs in videos and images: one CSV per input (OpenFace's columns)",
        description="Find the face in every frame (MTCNN on keyframes, tracking in between; every face of an "
        "image), crop it as the model was trained, and write one CSV per input: frame, face_id, timestamp, "
        "confidence, success, AU01_c ... AU23_c (present, 0/1), AU01_p ... AU23_p (probability) and, for models "
        "with a view head, view and view_p. A frame without a face is a row with success=0. Bad inputs are "
        "listed and skipped; the exit status is then 1.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or image files, folders (recursive), globs")
    p.add_argument(
        "--model",
        default=None,
        metavar="HANDLE",
        help="preset folder, run directory, https://...#sha256=..., hf://owner/name or a built-in name "
        "(default: the demo preset, trained on synthetic faces)",
    )
    p.add_argument("--out", default=".", metavar="DIR", help="folder for the CSVs (default: the current folder)")
    p.add_argument("--overlay", action="store_true", help="also a video per input with the box and present AUs")
    p.add_argument("--plot", action="store_true", help="also a PNG per video of each AU's probability over time")
    p.add_argument("--batch-size", type=v.positive_int, default=64, metavar="N", help="face crops per model call")
    p.add_argument(
        "--detect-every", type=v.positive_int, default=None, metavar="K", help="MTCNN on every K-th frame of a video"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def format_summary(summary: dict) -> str:
    lines = [
        f"{len(summary['written'])} input(s) written, {len(summary['failed'])} failed; {summary['frames']} frames "
        f"(images count one), {summary['faces']} with a face; {summary['frames_per_second']:.1f} frames/s "
        f"({summary['seconds']:.1f} s)"
    ]
    for name, reason in summary["failed"].items():
        lines.append(f"  failed: {name}: {reason}")
    return "\n".join(lines)


def run(args) -> int:
    from aufera.predict import AUDetector, check_out_dir, predict_files

    check_out_dir(args.out)
    detector = AUDetector.from_preset(args.model, batch_size=args.batch_size, detect_every=args.detect_every)
    summary = predict_files(
        args.inputs,
        detector,
        args.out,
        overlay=args.overlay,
        plot=args.plot,
        progress=not args.quiet,
        report=lambda line: print(f"aufera predict: {line}", file=sys.stderr, flush=True),
    )
    print(format_summary(summary))
    return 1 if summary["failed"] else 0
