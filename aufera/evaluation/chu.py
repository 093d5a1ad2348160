"""Evaluation of a Chu et al. 2019 run: the CNN, the LSTMs and their fusion on whole videos; the paper's tables.

The whole `CNNLSTM` (`cnn_lstm.keras`) runs on every video of the split,
frames in order, gaps masked; its three outputs give three models:

- `cnn`: the spatial CNN per frame (present when p > 0.5);
- `lstm`: the LSTMs on the projected fc7 (present when the score > 0);
- `fusion`: the fusion network (present when p > 0.5), the hybrid's answer.

For each: frame-based F1, event-based F1 at overlap 0.5 and the area under
its curve over [0, 1] (`aufera.metrics.event_f1_per_au`, events pooled over
the videos), and AUC over the known labels. A run trained with
`epochs_chu_lstm=0` holds the CNN only (the sampler comparison): its CNN is
evaluated the same way, from `chu_cnn.keras`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aufera.au import AU_KEYS
from aufera.errors import AuferaError
from aufera.evaluation import paper
from aufera.evaluation.scores import _per_au, auc_entry, reference_metrics
from aufera.evaluation.text_table import aligned_table, markdown_table, number_cell, source_label
from aufera.filenames import CHU_TABLE_FILE, METRICS_FILE, model_file
from aufera.files import atomic_write_text

MODELS = ("cnn", "lstm", "fusion")
MODEL_LABELS = {"cnn": "CNN", "lstm": "LSTM", "fusion": "CNN+LSTM"}
# The score above which a model says "present": probabilities for the CNN and the fusion, [-1, 1] for the LSTMs.
THRESHOLDS = {"cnn": 0.5, "lstm": 0.0, "fusion": 0.5}
EVENT_OVERLAP = 0.5
DATA_NOTE = "the data differ: the paper's numbers are on BP4D (12 AUs; its mean is over those 12)"


def sequence_metrics(au_true: np.ndarray, scores: np.ndarray, threshold: float, videos) -> dict:
    """Frame F1, event F1 (t = 0.5 and the area over t), and AUC per AU of one model's per-row scores.

    Args:
        au_true: int array (N, 10) of +1 / -1 / 0, per dataset row.
        scores: float array (N, 10): the model's score per row.
        threshold: float. Present where the score is above it.
        videos: list of `aufera.data.sequences.VideoSequence` covering the rows.

    Returns:
        `{"f1", "f1_event", "f1_event_auc", "auc"}`, each per AU and "mean"
        (AUC as `aufera.evaluation.scores.auc_entry`).
    """
    from aufera.data.sequences import gather_sequence
    from aufera.metrics import event_f1_auc_per_au, event_f1_per_au, f1_per_au

    decisions = (scores > threshold).astype(np.int8)
    labels = [gather_sequence(au_true, v) for v in videos]
    predicted = [gather_sequence(decisions, v) for v in videos]
    masks = [v.mask for v in videos]
    return {
        "f1": _per_au(f1_per_au(au_true, decisions)),
        "f1_event": _per_au(event_f1_per_au(labels, predicted, overlap=EVENT_OVERLAP, mask=masks)),
        "f1_event_auc": _per_au(event_f1_auc_per_au(labels, predicted, mask=masks)),
        "auc": auc_entry(au_true, scores),
    }


def predict_videos(model, arrays, videos, preprocessing, cnn_only: bool = False, progress: bool = False) -> dict:
    """Per-row scores of the whole model (or of the CNN alone) on whole videos, in the dataset's row order.

    Each video's frames are preprocessed as training preprocesses them
    (`aufera.data.pipeline.make_transform`: scale, training mean, centre
    crop) and go through the model in one call, gaps masked.

    With `progress`, a progress bar counts the videos.

    Returns:
        A dict of float32 (N, 10) arrays: "cnn", "lstm", "fusion" (or "cnn" only).
    """
    import tensorflow as tf
    from tqdm import tqdm

    from aufera.data.pipeline import make_transform
    from aufera.data.sequences import gather_sequence

    transform = make_transform(arrays.mean, "chu_cnn", None, float(preprocessing.scale), preprocessing.crop_size)
    names = ("cnn",) if cnn_only else MODELS
    out = {name: np.full((len(arrays), arrays.au.shape[1]), np.nan, np.float32) for name in names}

    if cnn_only:
        run = tf.function(lambda x: model(x, training=False)["au"], reduce_retracing=True)
    else:
        run = tf.function(lambda x, m: model(x[None], present=m[None], training=False), reduce_retracing=True)
    for video in tqdm(videos, desc="videos", unit="video", disable=not progress):
        images = gather_sequence(arrays.image, video)
        batch = {"image": images, "au": gather_sequence(arrays.au, video), "view": gather_sequence(arrays.view, video)}
        x, _ = transform(batch)
        rows = video.rows[video.mask]
        if cnn_only:
            out["cnn"][rows] = np.asarray(run(tf.boolean_mask(x, video.mask)))
            continue
        result = run(x, tf.constant(video.mask))
        for name in names:
            out[name][rows] = np.asarray(result["au" if name == "fusion" else name])[0][video.mask]
    return out


def chu_table_markdown(metrics: dict, synthetic: bool | None) -> str:
    """The per-AU table of a Chu et al. run (`table_chu.md`)."""
    title = f"# Chu et al. 2019, CNN vs LSTM vs CNN+LSTM on held-out subjects ({source_label(synthetic)})"
    lines = [title, "", f"({DATA_NOTE})", "", *markdown_table(*comparison_rows(metrics))]
    return "\n".join(lines) + "\n"


def evaluate_chu_run(
    run_dir, data_dir=None, split: str = "validation", synthetic: bool | None = None, progress: bool = False
) -> dict:
    """Evaluates a Chu et al. 2019 run directory on whole videos and writes `metrics.json` and `table_chu.md`.

    A run trained on a fold of the subject-exclusive protocol (`folds` in
    its config) is evaluated on that fold's test subjects, pooled from the
    dataset's training split and `split`.

    Args:
        run_dir: str or Path. A run of `model.family=chu2019`.
        data_dir: str, Path or None. The prepared dataset; None takes the run's.
        split: str. Defaults to "validation".
        synthetic: bool or None. Label of the results (`resolve_synthetic`).
        progress: bool. A progress bar over the videos. Defaults to False.

    Returns:
        The metrics dict: `chu2019` -> {"cnn", "lstm", "fusion"} (or "cnn"
        only for a CNN-only run), each as `sequence_metrics`; `reference`
        (`reference_metrics`), `split`, `videos`, `frames`, `gaps`,
        `sampler`, `synthetic`.
    """
    import keras

    import aufera.models  # noqa: F401  (registers the classes the saved models name)
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.sequences import video_sequences
    from aufera.evaluation.run import resolve_data_dir, resolve_synthetic, run_family, run_preprocessing

    run_dir = Path(run_dir)
    family, config = run_family(run_dir)
    if family != "chu2019":
        raise AuferaError(f"{run_dir}: not a Chu et al. 2019 run (model.family is {family!r})")
    data_dir = resolve_data_dir(run_dir, data_dir)
    _, preprocessing = run_preprocessing(run_dir)
    whole = run_dir / model_file("cnn_lstm")
    cnn_only = not whole.is_file()
    path = run_dir / model_file("chu_cnn") if cnn_only else whole
    if not path.is_file():
        raise AuferaError(f"{run_dir}: no {path.name}; train the run first (aufera train)")
    if config.folds is not None:
        from aufera.training.chu import fold_test_arrays

        arrays = fold_test_arrays(config, load_split_arrays(data_dir, "train"), load_split_arrays(data_dir, split))
        split = f"fold {config.fold} of {config.folds} (test subjects)"
    else:
        arrays = load_split_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} is empty")
    videos = video_sequences(arrays.subject, arrays.task, arrays.view, arrays.frame)
    model = keras.saving.load_model(path, compile=False)
    scores = predict_videos(model, arrays, videos, preprocessing, cnn_only=cnn_only, progress=progress)
    synthetic = resolve_synthetic(data_dir, synthetic)
    metrics = {
        "chu2019": {name: sequence_metrics(arrays.au, s, THRESHOLDS[name], videos) for name, s in scores.items()},
        "reference": reference_metrics(arrays.au),
        "split": split,
        "videos": len(videos),
        "frames": int(sum(len(v) for v in videos)),
        "gaps": int(sum(int((~v.mask).sum()) for v in videos)),
        "sampler": config.sampler,
        "synthetic": synthetic,
    }
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=1))
    atomic_write_text(run_dir / CHU_TABLE_FILE, chu_table_markdown(metrics, synthetic))
    return metrics


# === The tables of `aufera reproduce --paper chu2019` ===


def comparison_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Tables 1-2 in shape: F1-frame, F1-event (t = 0.5) and AUC per AU of the CNN, the LSTMs and the fusion,
    with the paper's BP4D F1-frame of its CNN (ANet) and its fusion (3-fold) beside them."""
    ours = metrics["chu2019"]
    models = [m for m in MODELS if m in ours]
    header = ["AU"]
    for metric in ("F1-frame", "F1-event", "AUC"):
        header += [f"{metric} {MODEL_LABELS[m]}" for m in models]
    header += ["paper CNN", "paper CNN+LSTM"]
    published = paper.CHU_TABLE2_BP4D["3-fold"]
    rows = []
    for i, key in enumerate((*AU_KEYS, "mean")):
        cells = [key if key != "mean" else "Mean"]
        for metric in ("f1", "f1_event", "auc"):
            cells += [number_cell(ours[m][metric].get(key)) for m in models]
        if key == "mean":
            cells += [f"{published['mean'][m] / 100:.3f}" for m in ("cnn", "fusion")]
        else:
            cells += [f"{published[m][i] / 100:.3f}" for m in ("cnn", "fusion")]
        rows.append(cells)
    return header, rows


def sampler_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Tables 3-4 in shape: the CNN's F1-frame per AU when trained with random sampling, stratification, MOMU.

    Args:
        metrics: dict. "random", "stratified", "momu" -> a run's metrics.
    """
    samplers = [s for s in ("random", "stratified", "momu") if s in metrics]
    labels = {"random": "RS", "stratified": "MS", "momu": "MOMU"}
    header = ["AU", *(f"{labels[s]} F1" for s in samplers), *(f"{labels[s]} AUC" for s in samplers)]
    header += [f"paper {labels[s]}" for s in samplers]
    published = paper.CHU_TABLE4_BP4DP
    rows = []
    for i, key in enumerate((*AU_KEYS, "mean")):
        cells = [key if key != "mean" else "Mean"]
        cells += [number_cell(metrics[s]["chu2019"]["cnn"]["f1"].get(key)) for s in samplers]
        cells += [number_cell(metrics[s]["chu2019"]["cnn"]["auc"].get(key)) for s in samplers]
        cells += [f"{(published['mean'][s] if key == 'mean' else published[s][i]):.2f}" for s in samplers]
        rows.append(cells)
    return header, rows


def chu_tables_text(metrics: dict, sampler_metrics: dict | None, synthetic: bool | None) -> str:
    """The tables of `aufera reproduce --paper chu2019` as aligned text, without a final newline.

    Args:
        metrics: dict. The CNN-LSTM run's metrics (`evaluate_chu_run`).
        sampler_metrics: dict or None. "random", "stratified", "momu" -> the
            metrics of CNN runs trained with each sampler.
        synthetic: bool or None. Whether our numbers come from the synthetic corpus.
    """
    source = source_label(synthetic)
    lines = [
        f"Chu et al. Tables 1-2 in shape: CNN vs LSTM vs CNN+LSTM fusion on held-out subjects ({source}, "
        f"{metrics['videos']} videos, {metrics['frames']} frames); paper: {paper.CHU_SOURCE_LABEL}, 3-fold, "
        "F1-frame",
        f"({DATA_NOTE})",
        *aligned_table(*comparison_rows(metrics)),
    ]
    if sampler_metrics:
        lines += [
            "",
            f"Chu et al. Tables 3-4 in shape: the CNN trained with random sampling (RS), multi-label "
            f"stratification (MS) and MOMU ({source}); paper: BP4D+ within-dataset, Table 4",
            *aligned_table(*sampler_rows(sampler_metrics)),
        ]
    return "\n".join(lines)
