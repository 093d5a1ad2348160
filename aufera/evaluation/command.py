"""The `aufera evaluate` subcommand's arguments.

Kept apart from `aufera.evaluation.evaluate` so that building the `aufera`
command does not import TensorFlow; the evaluation itself is imported when
the subcommand runs.
"""

from __future__ import annotations


def _run(args) -> int:
    from aufera.evaluation.evaluate import run_cli

    return run_cli(args)


def add_cli(subparsers) -> None:
    """Adds `aufera evaluate --run RUN_DIR [--data DATASET_DIR] [--split validation]` to the `aufera` command.

    Args:
        subparsers: the object returned by `ArgumentParser.add_subparsers`.
    """
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run: metrics.json, Tables 1-2 beside the paper's, figures, predictions",
        description="Evaluate Network1, Network2 and their fusion (eq. 5) of a run directory on a split of the "
        "prepared dataset; write metrics.json, table1.md, table2.md, fig7_view_confusion.png, f1_per_au.png and "
        "predictions_SPLIT.csv into the run directory, and print the tables beside He et al. 2019's.",
    )
    p.add_argument(
        "--run",
        dest="run_dir",
        required=True,
        metavar="RUN_DIR",
        help="run directory with network1.keras, network2.keras",
    )
    p.add_argument("--data", default=None, metavar="DATASET_DIR", help="prepared dataset (default: from config.yaml)")
    p.add_argument("--split", default="validation", help="split to evaluate (default validation)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--synthetic", dest="synthetic", action="store_true", default=None, help="label results: synthetic corpus"
    )
    source.add_argument("--fera", dest="synthetic", action="store_false", help="label results: FERA 2017")
    p.set_defaults(run=_run)
