"""`aufera evaluate`: a trained run's metrics, tables (Tables 1-2 beside the paper's, AUC), figures, predictions."""

from __future__ import annotations

from aufera.commands import validators as v
from aufera.filenames import (
    CHU_TABLE_FILE,
    DRML_TABLE_FILE,
    FIGURE_FILES,
    METRICS_FILE,
    TABLE_FILES,
    model_file,
    predictions_file,
)


def add_parser(subparsers) -> None:
    report = ", ".join([METRICS_FILE, *TABLE_FILES.values(), *FIGURE_FILES.values(), predictions_file("SPLIT")])
    drml_report = ", ".join([METRICS_FILE, DRML_TABLE_FILE, predictions_file("SPLIT")])
    models = f"{model_file('network1')} + {model_file('network2')}, or {model_file('drml')}"
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run: metrics.json (F1, accuracy, AUC), tables beside the paper's, figures, "
        "predictions",
        description="Evaluate a run directory on a split of its prepared dataset. A He et al. run: Network1, "
        f"Network2 and their fusion (eq. 5); writes {report} into the run directory and prints Tables 1-2 beside "
        "He et al. 2019's and an AUC table. A DRML or ConvNet run (model.family: drml): the model on the centre "
        f"crop; writes {drml_report} and prints F1, accuracy and AUC per AU. With --with, the models of DRML / "
        "ConvNet runs join the He run's fusion as 'fusion_all', reported beside the rest.",
    )
    p.add_argument("--run", dest="run_dir", required=True, metavar="RUN_DIR", help=f"run directory with {models}")
    p.add_argument(
        "--data",
        default=None,
        metavar="DATASET_DIR",
        help="prepared dataset of --run (default: the one the run was trained on, from its config.yaml); "
        "--with runs always use their own recorded dataset",
    )
    p.add_argument("--split", default="validation", help="split to evaluate, of every run (default validation)")
    p.add_argument("--batch-size", type=v.positive_int, default=64, metavar="N", help="images per batch (default 64)")
    p.add_argument(
        "--with",
        dest="with_runs",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="a DRML or ConvNet run whose model joins the fusion of --run (a He et al. run) in eq. (5), reported "
        "as fusion_all; repeat for more runs. Each run is predicted on its own recorded dataset (e.g. 200-px "
        "faces beside the He run's 132-px ones); the frames of --split are matched by subject, task, view and "
        "frame and must be the same",
    )
    p.add_argument(
        "--fusion-weights",
        type=v.non_negative_float,
        nargs="+",
        default=None,
        metavar="W",
        help="weights of eq. (5), one per model, >= 0, not all 0: without --with, w1 w2 of the Network1 + "
        "Network2 fusion (default 0.5 0.5); with --with, one per model in the order network1, network2, then "
        "each --with run, for fusion_all (default equal), while 'fusion' stays Network1 + Network2 with the "
        "first two weights (0.5 0.5 when both are 0)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--synthetic",
        dest="synthetic",
        action="store_true",
        default=None,
        help="label results: synthetic corpus (default: as the dataset's prepare_report.json says)",
    )
    source.add_argument("--fera", dest="synthetic", action="store_false", help="label results: FERA 2017")
    p.set_defaults(run=run)


def _check_weight_count(args) -> None:
    """Refuses a --fusion-weights of the wrong length before anything is read (one line, exit 2)."""
    from aufera.errors import AuferaError

    weights = args.fusion_weights
    if weights is None:
        return
    expected = 2 + len(args.with_runs)
    if len(weights) != expected:
        models = "network1, network2" + "".join(f", {path}" for path in args.with_runs)
        raise AuferaError(f"--fusion-weights: expected {expected} weights ({models}), got {len(weights)}")
    if sum(weights) <= 0:
        raise AuferaError(f"--fusion-weights: the weights must not all be 0, got {' '.join(map(str, weights))}")


def run(args) -> int:
    _check_weight_count(args)
    from aufera.evaluation.report import report_files, report_text
    from aufera.evaluation.run import evaluate_run, resolve_data_dir, resolve_synthetic, run_family

    data_dir = resolve_data_dir(args.run_dir, args.data)
    synthetic = resolve_synthetic(data_dir, args.synthetic)
    if run_family(args.run_dir)[0] == "chu2019":
        from aufera.errors import AuferaError
        from aufera.evaluation.chu import chu_tables_text, evaluate_chu_run

        if args.with_runs or args.fusion_weights:
            raise AuferaError(f"{args.run_dir}: --with and --fusion-weights are for He et al. runs, not chu2019")
        metrics = evaluate_chu_run(args.run_dir, data_dir, args.split, synthetic=synthetic, progress=True)
        print(chu_tables_text(metrics, None, synthetic))
        print(f"report in {args.run_dir}: {METRICS_FILE}, {CHU_TABLE_FILE}")
        refresh_preset(args)
        return 0
    metrics = evaluate_run(
        args.run_dir,
        data_dir,
        args.split,
        args.batch_size,
        synthetic=synthetic,
        fusion_weights=args.fusion_weights,
        with_runs=args.with_runs,
    )
    print(report_text(metrics, synthetic, args.split))
    family = "drml" if "drml" in metrics else "he2019"
    print(f"report in {args.run_dir}: {', '.join(report_files(args.split, family=family).values())}")
    refresh_preset(args)
    return 0


def refresh_preset(args) -> None:
    """Rewrites the run's preset (`aufera train` wrote it) so that its card carries the metrics just measured,
    when they are those of the run's own dataset's validation split."""
    from pathlib import Path

    from aufera.filenames import RUN_PRESET_DIR

    if args.data is None and args.split == "validation" and (Path(args.run_dir) / RUN_PRESET_DIR).is_dir():
        from aufera.pretrained import write_run_preset

        print(f"preset with weights: {write_run_preset(args.run_dir)} (its card now has these metrics)")
