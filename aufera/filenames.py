"""The names of the files and folders aufera writes and reads (one place for each).

Three folders carry a contract between the commands:

- a synthetic corpus (`aufera synth`): the FERA 2017 layout
  (`aufera.layout`) plus `groundtruth/` with the manifest `corpus.json`;
- a prepared dataset (`aufera prepare`): the TFDS version folder, with the
  training mean image and the preparation report beside `dataset_info.json`;
- a run directory (`aufera train`, `aufera evaluate`): the resolved config,
  the trained models, histories, checkpoints, metrics, tables and figures.

A subject-exclusive k-fold split (`aufera.folds`) is one JSON file,
`FOLDS_FILE`.

Importing this module imports nothing else.
"""

from __future__ import annotations

# === Synthetic corpus ===

GROUNDTRUTH_DIR = "groundtruth"
CORPUS_MANIFEST = "corpus.json"
SUBJECTS_FILE = "subjects.json"
PREVIEW_FILE = "preview.png"

# === Prepared dataset ===

MEAN_FILE = "mean_image.npy"
PREPARE_REPORT_JSON = "prepare_report.json"
PREPARE_REPORT_MD = "prepare_report.md"
TFDS_INFO_FILE = "dataset_info.json"

# === Subject-exclusive folds (`aufera.folds`) ===

FOLDS_FILE = "folds.json"

# === Run directory ===

CONFIG_FILE = "config.yaml"
# What `aufera train` did: per stage the best epoch and its scores, the strategy, workers and replicas, wall time.
TRAIN_SUMMARY_FILE = "train_summary.json"
METRICS_FILE = "metrics.json"
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
STATE_FILE = "state.json"
TABLE_FILES = {"table1": "table1.md", "table2": "table2.md"}
# The table of a DRML run (F1, accuracy and AUC per AU), in place of Tables 1-2.
DRML_TABLE_FILE = "table_drml.md"
# The table of a Chu et al. 2019 run (CNN, LSTM, fusion: F1-frame, F1-event, AUC per AU).
CHU_TABLE_FILE = "table_chu.md"
# Chu et al. 2019: the CNN's outputs on both splits, the PCA of its fc7, what the temporal stages measured.
CHU_FEATURES_FILE = "chu_features.npz"
CHU_PCA_FILE = "chu_pca.npz"
CHU_SUMMARY_FILE = "chu_summary.json"
FIGURE_FILES = {"view_confusion": "fig7_view_confusion.png", "f1_per_au": "f1_per_au.png"}


def model_file(stage: str) -> str:
    """The trained model of a stage in a run directory, e.g. "network1.keras"."""
    return f"{stage}.keras"


def history_file(stage: str) -> str:
    """The per-epoch history of a stage in a run directory, e.g. "history_network1.csv"."""
    return f"history_{stage}.csv"


def predictions_file(split: str) -> str:
    """The per-frame predictions of an evaluated split, e.g. "predictions_validation.csv"."""
    return f"predictions_{split}.csv"


# === Model presets with weights (`aufera.pretrained`; keras-hub's layout) ===

PRESET_CONFIG_FILE = "config.json"
PRESET_WEIGHTS_FILE = "model.weights.h5"
PRESET_PREPROCESSING_FILE = "preprocessing.json"
PRESET_MEAN_FILE = "mean_image.npy"
PRESET_METADATA_FILE = "metadata.json"
PRESET_CARD_FILE = "README.md"
# The preset `aufera train` writes into a run directory: the run's models as one ready detector.
RUN_PRESET_DIR = "preset"
