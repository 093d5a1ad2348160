"""Evaluation of He et al. 2019's networks: metrics, the paper's tables side by side, figures.

Modules: `paper` (the published numbers of Tables 1-2), `evaluate` (metrics, tables, report files, the
`aufera evaluate` command), `figures` (Fig. 7 view confusion, F1 per AU).
"""

from aufera.evaluation.command import add_cli

_LAZY = ("evaluate_predictions", "evaluate_run", "model_decisions", "print_tables", "run_cli", "write_report")


def __getattr__(name):
    # The evaluation functions import Keras; load them on first use only.
    if name in _LAZY:
        from aufera.evaluation import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module 'aufera.evaluation' has no attribute {name!r}")


__all__ = [
    "add_cli",
    "evaluate_predictions",
    "evaluate_run",
    "model_decisions",
    "print_tables",
    "run_cli",
    "write_report",
]
