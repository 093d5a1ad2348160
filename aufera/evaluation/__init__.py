"""Evaluation of He et al. 2019's networks: metrics, the paper's tables side by side, figures.

Modules:

- `scores`: decisions from the networks' outputs (one network: the larger
  neuron wins; the fusion: eq. 5) and F1 / accuracy per AU in the
  `metrics.json` layout (`model_decisions`, `evaluate_predictions`).
- `report`: Tables 1-2 with ours beside the published columns (Markdown and
  terminal text), the per-frame CSV, and `write_report`, which writes the
  report files (`report_files`) into a run directory (`metrics.json` is the
  contract).
- `run`: a run directory evaluated end to end: its dataset and the label of
  its results (`resolve_data_dir`, `resolve_synthetic`), its two saved
  networks (`load_models`, `predict_arrays`), and `evaluate_run`.
- `text_table`: aligned plain-text tables (`aligned_table`); imports nothing.
- `figures`: Fig. 7 (view confusion) and F1 per AU beside the paper's.
- `paper`: the published numbers of Tables 1-2 and the view accuracy.

The `aufera evaluate` command is `aufera.commands.evaluate`. Importing this
package does not import TensorFlow: the functions below are loaded on first
use.
"""

import importlib

_EXPORTS = {
    "evaluate_predictions": "scores",
    "model_decisions": "scores",
    "predictions_csv": "report",
    "report_files": "report",
    "source_label": "report",
    "table_markdown": "report",
    "tables_text": "report",
    "write_report": "report",
    "evaluate_run": "run",
    "load_models": "run",
    "predict_arrays": "run",
    "resolve_data_dir": "run",
    "resolve_synthetic": "run",
    "aligned_table": "text_table",
}


def __getattr__(name):
    # Most functions import Keras; load their module on first use only.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"aufera.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'aufera.evaluation' has no attribute {name!r}")


__all__ = [
    "aligned_table",
    "evaluate_predictions",
    "evaluate_run",
    "load_models",
    "model_decisions",
    "predict_arrays",
    "predictions_csv",
    "report_files",
    "resolve_data_dir",
    "resolve_synthetic",
    "source_label",
    "table_markdown",
    "tables_text",
    "write_report",
]
