"""`aufera synth`: write the synthetic multi-view AU corpus in the FERA 2017 layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from aufera.commands import validators as v


def view_numbers(text: str) -> tuple[int, ...] | None:
    """`--views`: distinct FERA 2017 view numbers 1-9, comma-separated (e.g. "2,5,8"), or "all" (None)."""
    if text.strip().lower() == "all":
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and 1 <= int(part) <= 9 for part in parts) or len(set(map(int, parts))) != len(parts):
        raise argparse.ArgumentTypeError(f"expected distinct view numbers from 1 to 9, comma-separated, got {text!r}")
    return tuple(sorted(int(part) for part in parts))


def add_parser(subparsers) -> None:
    from aufera.synth.config import INT_LIMITS, SynthConfig

    d = SynthConfig()
    p = subparsers.add_parser(
        "synth",
        help="write the synthetic multi-view AU corpus in the FERA 2017 layout",
        description="Write the synthetic multi-view AU corpus (aufera's embedded default data) in the FERA 2017 "
        "layout: 9 views per session (or those of --views) as .mp4 videos, one occurrence CSV per session, "
        "ground truth in groundtruth/. "
        "Rerunning the same command after an interruption completes the corpus.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the corpus into (new or empty)")
    for flag, field, metavar, what in (
        ("--train-subjects", "train_subjects", "N", "subjects in the training part"),
        ("--valid-subjects", "valid_subjects", "N", "subjects in the validation part, disjoint from training"),
        ("--tasks", "tasks", "N", "sessions per subject"),
        ("--frames", "frames", "N", "frames per session"),
        ("--size", "size", "PX", "frame width and height in pixels"),
    ):
        low, high = INT_LIMITS[field]
        default = getattr(d, field)
        p.add_argument(
            flag, type=v.int_range(low, high), default=default, metavar=metavar, help=f"{what} (default {default})"
        )
    p.add_argument(
        "--seed", type=v.non_negative_int, default=d.seed, metavar="S", help=f"random seed (default {d.seed})"
    )
    v.add_workers(p)
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
        type=v.fractions(10),
        default=None,
        metavar="R1,...,R10",
        help="share of frames with each AU present, in the order AU1,AU4,AU6,AU7,AU10,AU12,AU14,"
        "AU15,AU17,AU23 (default: FERA 2017 training set)",
    )
    p.add_argument(
        "--unknown-rate",
        type=v.fraction,
        default=d.unknown_rate,
        metavar="P",
        help=f"share of labels written as 9, unknown, below 0.5 (default {d.unknown_rate})",
    )
    p.add_argument(
        "--present-from",
        type=v.level,
        default="A",
        metavar="LEVEL",
        help="intensity level A-E from which an AU counts as present (default A)",
    )
    for flag, field, metavar, what in (
        ("--yaws", "yaws", "Y1,Y2,Y3", "yaw"),
        ("--pitches", "pitches", "P1,P2,P3", "pitch"),
    ):
        default = ",".join(f"{a:g}" for a in getattr(d, field))
        p.add_argument(
            flag,
            type=v.floats(3),
            default=getattr(d, field),
            metavar=metavar,
            help=f"{what} angles of the view grid in degrees, within +-60, written {flag}={default} (the default)",
        )
    p.add_argument(
        "--views",
        type=view_numbers,
        default=None,
        metavar="V1,V2,...",
        help="write the videos of these views only, as FERA 2017 view numbers 1-9 (1 + 3 x pitch index + yaw "
        "index in the --yaws/--pitches grid; 5 is frontal by default), e.g. --views=2,5,8; labels are written "
        "either way (default: all 9)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


# The SynthConfig fields whose range is checked by the config itself, and their flags.
_FLAGS = {
    "base_rates": "--base-rates",
    "unknown_rate": "--unknown-rate",
    "yaws": "--yaws",
    "pitches": "--pitches",
    "views": "--views",
}


def run(args) -> int:
    from aufera.au import AU_KEYS
    from aufera.filenames import PREVIEW_FILE
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import corpus_base_rates, write_corpus

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
        views=args.views,
    )
    if args.base_rates is not None:
        kwargs["base_rates"] = args.base_rates
    try:
        config = SynthConfig(**kwargs)
    except ValueError as error:
        raise v.config_error(error, _FLAGS) from None
    result = write_corpus(args.out_dir, config, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    out = Path(args.out_dir)
    print(
        f"corpus: {out} ({result['sessions']} sessions, {result['written']} written now; "
        f"{config.train_subjects} training and {config.valid_subjects} validation subjects, "
        f"{config.frames} frames x {len(config.view_numbers)} views per session)"
    )
    rates = corpus_base_rates(out)
    for split in ("train", "validation"):
        shown = " ".join(f"{k} {r:.2f}" for k, r in zip(AU_KEYS, rates[split], strict=True))
        print(f"AU base rates ({split}, known labels): {shown}; unknown {rates[split + '_unknown'][0]:.3f}")
    if args.preview is not None:
        from aufera.synth.preview import write_preview

        path = Path(args.preview) if args.preview else out / PREVIEW_FILE
        write_preview(out, path)
        print(f"preview: {path}")
    return 0
