"""Evaluation of trained runs: metrics, the papers' tables side by side, figures.

Modules:

- `scores`: decisions from the models' outputs (one network: the larger
  neuron wins; the fusion: eq. 5; a sigmoid model such as DRML: p > 0.5;
  extra models joining the fusion: `fusion_all`) and F1 / accuracy / AUC
  per AU in the `metrics.json` layout (`model_decisions`,
  `evaluate_predictions`, `evaluate_drml_predictions`, `fusion_weights_for`).
- `report`: Tables 1-2 with ours beside the published columns, the AUC
  table, a DRML run's F1 / accuracy / AUC table (Markdown and terminal
  text), the per-frame CSV, and `write_report`, which writes the report
  files (`report_files`) into a run directory (`metrics.json` is the
  contract).
- `run`: a run directory evaluated end to end: its family, dataset and the
  label of its results (`run_family`, `resolve_data_dir`,
  `resolve_synthetic`), its saved models (`load_models`, `predict_arrays`),
  the frames of two datasets matched (`align_rows`), and `evaluate_run`.
- `text_table`: aligned and Markdown tables (`aligned_table`,
  `markdown_table`), their cells and the source label; imports nothing.
- `figures`: Fig. 7 (view confusion) and F1 per AU beside the paper's.
- `paper`: the published numbers of Tables 1-2 and the view accuracy.
- `drml_report`: the tables of the DRML reproduction (ConvNet vs DRML, time
  per iteration), from the `metrics.json` of DRML runs.
- `chu`: a Chu et al. 2019 run evaluated on whole videos (`evaluate_chu_run`)
  and the tables of its reproduction (`chu_tables_text`).

The `aufera evaluate` command is `aufera.commands.evaluate`. Importing this
package does not import TensorFlow: the functions below are loaded on first
use.
"""

import importlib

_EXPORTS = {
    "drml_decisions": "scores",
    "evaluate_drml_predictions": "scores",
    "evaluate_predictions": "scores",
    "fusion_weights_for": "scores",
    "model_decisions": "scores",
    "auc_text": "report",
    "drml_predictions_csv": "report",
    "drml_table_markdown": "report",
    "drml_text": "report",
    "predictions_csv": "report",
    "report_files": "report",
    "report_text": "report",
    "source_label": "report",
    "table_markdown": "report",
    "tables_text": "report",
    "write_report": "report",
    "align_rows": "run",
    "evaluate_run": "run",
    "load_models": "run",
    "predict_arrays": "run",
    "resolve_data_dir": "run",
    "resolve_synthetic": "run",
    "run_family": "run",
    "aligned_table": "text_table",
}


def __getattr__(name):
    # Most functions import Keras; load their module on first use only.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"aufera.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'aufera.evaluation' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
