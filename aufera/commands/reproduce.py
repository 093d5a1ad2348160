"""`aufera reproduce`: the main job, from videos to the paper's tables (He et al. 2019; DRML's or Chu et al.'s with --paper)."""

from __future__ import annotations

from aufera.commands import validators as v


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="the main job: data, preparation, training, evaluation, the paper's tables",
        description="Reproduce He et al. 2019's Tables 1 and 2 and Fig. 7 (default), or with --paper drml DRML's "
        "Table 2 (ConvNet vs DRML, F1 and AUC per AU) and Table 4 (time per iteration) in shape, or with --paper chu2019 "
        "Chu et al. 2019's Tables 1-2 (CNN vs LSTM vs CNN+LSTM fusion: F1-frame, F1-event, AUC per AU) and 3-4 "
        "(the CNN with random sampling, multi-label stratification and MOMU) in shape: on the embedded synthetic "
        "corpus (default) or on a licensed FERA 2017 copy (--data-dir). He et al. and DRML share the corpus and "
        "the face cache of one --out folder; chu2019 writes a corpus of long sessions of its own there. Rerunning "
        "continues an interrupted run.",
    )
    p.add_argument(
        "--paper",
        choices=("he2019", "drml", "chu2019"),
        default="he2019",
        help="whose tables: he2019 (He et al. 2019, default), drml (Zhao et al. 2016) or chu2019 (Chu et al. 2019)",
    )
    v.add_reproduction_options(p, "reproduction", "smaller corpus and training, for smoke tests")
    p.set_defaults(run=run)


# The companion papers' reproductions: `aufera.reproduce` function and the name printed.
COMPANIONS = {"drml": ("reproduce_drml", "DRML"), "chu2019": ("reproduce_chu", "Chu et al.")}


def run(args) -> int:
    from pathlib import Path

    from aufera.errors import AuferaError

    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise AuferaError(f"--data-dir {args.data_dir}: no such folder")
    if args.paper in COMPANIONS:
        from aufera import reproduce

        function, name = COMPANIONS[args.paper]
        result = getattr(reproduce, function)(
            args.out, args.data_dir, args.seed, args.quick, args.workers, progress=not args.quiet
        )
        print(result["text"])
        runs = ", ".join(str(path) for path in result["run_dirs"].values())
        print(f"{name} reproduction done in {result['seconds']:.0f} s; runs in {runs}")
        return 0
    from aufera.evaluation import tables_text
    from aufera.reproduce import reproduce

    result = reproduce(args.out, args.data_dir, args.seed, args.quick, args.workers, progress=not args.quiet)
    print(tables_text(result["metrics"], result["synthetic"]))
    print(f"reproduction done in {result['seconds']:.0f} s; results in {result['run_dir']}")
    return 0
