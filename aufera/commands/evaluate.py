"""`aufera evaluate`: a trained run's metrics, Tables 1-2 beside the paper's, figures and per-frame predictions."""

from __future__ import annotations

from aufera.commands import validators as v
from aufera.filenames import FIGURE_FILES, METRICS_FILE, TABLE_FILES, model_file, predictions_file


def add_parser(subparsers) -> None:
    report = ", ".join([METRICS_FILE, *TABLE_FILES.values(), *FIGURE_FILES.values(), predictions_file("SPLIT")])
    models = f"{model_file('network1')}, {model_file('network2')}"
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run: metrics.json, Tables 1-2 beside the paper's, figures, predictions",
        description="Evaluate Network1, Network2 and their fusion (eq. 5) of a run directory on a split of the "
        f"prepared dataset; write {report} into the run directory, and print the tables beside He et al. 2019's.",
    )
    p.add_argument("--run", dest="run_dir", required=True, metavar="RUN_DIR", help=f"run directory with {models}")
    p.add_argument(
        "--data",
        default=None,
        metavar="DATASET_DIR",
        help="prepared dataset (default: the one the run was trained on, from its config.yaml)",
    )
    p.add_argument("--split", default="validation", help="split to evaluate (default validation)")
    p.add_argument("--batch-size", type=v.positive_int, default=64, metavar="N", help="images per batch (default 64)")
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


def run(args) -> int:
    from aufera.evaluation.report import report_files, tables_text
    from aufera.evaluation.run import evaluate_run, resolve_data_dir, resolve_synthetic

    data_dir = resolve_data_dir(args.run_dir, args.data)
    synthetic = resolve_synthetic(data_dir, args.synthetic)
    metrics = evaluate_run(args.run_dir, data_dir, args.split, args.batch_size, synthetic=synthetic)
    print(tables_text(metrics, synthetic, args.split))
    print(f"report in {args.run_dir}: {', '.join(report_files(args.split).values())}")
    return 0
