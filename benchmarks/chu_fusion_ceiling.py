"""What temporal context can add on a corpus: the ceiling checks behind the CNN-LSTM targets.

For a trained Chu et al. 2019 run (`aufera reproduce --paper chu2019` writes
one in OUT/run-chu), prints, on the held-out subjects:

1. the CNN's mean frame F1 on its own training frames against held-out ones
   (from the run's `chu_features.npz`);
2. the CNN, the LSTMs and the fusion network as `aufera evaluate` scores them
   (frame F1, event F1 at t = 0.5);
3. the CNN's probabilities smoothed over time by a moving average of w
   frames, centred (it sees w // 2 frames ahead) and causal (the frame and
   the w - 1 before it, all that a one-way LSTM can see): how much plain
   temporal smoothing changes frame and event F1;
4. a fusion fitted on the held-out subjects themselves, leave one subject
   out (a logistic regression per AU on the CNN's probability and the LSTMs'
   score, fitted on the other held-out subjects): an upper bound on what a
   per-frame fusion of the two can do, with the same on the CNN's
   probability alone as its control, and on the CNN's probability with its
   causal moving average in place of the LSTMs (what a per-frame fusion
   could make of LSTMs that had learnt exactly that smoothing).

    python benchmarks/chu_fusion_ceiling.py RUN_DIR
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def smoothed(scores: np.ndarray, videos, width: int) -> np.ndarray:
    """`scores` averaged over a centred window of `width` frames within each video (edges repeated)."""
    out = scores.copy()
    kernel = np.ones(width) / width
    for video in videos:
        rows = video.rows[video.mask]
        padded = np.pad(scores[rows], ((width // 2, width // 2), (0, 0)), mode="edge")
        out[rows] = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(scores.shape[1])], 1)
    return out


def causal(scores: np.ndarray, videos, width: int) -> np.ndarray:
    """`scores` averaged over each frame and the `width` - 1 before it within each video (first frame repeated)."""
    out = scores.copy()
    for video in videos:
        rows = video.rows[video.mask]
        summed = np.cumsum(np.pad(scores[rows], ((width, 0), (0, 0)), mode="edge"), axis=0)
        out[rows] = (summed[width:] - summed[:-width]) / width
    return out


def leave_one_subject_out(inputs: list[np.ndarray], labels: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Per-AU logistic regression on the columns of `inputs` for that AU, each subject predicted by the others."""
    from sklearn.linear_model import LogisticRegression

    out = np.full(labels.shape, np.nan, np.float32)
    for subject in np.unique(subjects):
        test = subjects == subject
        for j in range(labels.shape[1]):
            x = np.stack([a[:, j] for a in inputs], 1)
            fit = ~test & (labels[:, j] != 0)
            y = labels[fit, j] > 0
            if len(np.unique(y)) < 2:
                out[test, j] = inputs[0][test, j]
                continue
            model = LogisticRegression(max_iter=1000).fit(x[fit], y)
            out[test, j] = model.predict_proba(x[test])[:, 1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a trained chu2019 run directory (with cnn_lstm.keras)")
    parser.add_argument("--widths", default="3,5,9,15", help="moving-average widths, comma-separated")
    args = parser.parse_args()

    import keras

    import aufera.models  # noqa: F401
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.sequences import video_sequences
    from aufera.evaluation.chu import THRESHOLDS, predict_videos, sequence_metrics
    from aufera.evaluation.run import resolve_data_dir, run_preprocessing
    from aufera.filenames import CHU_FEATURES_FILE, model_file
    from aufera.metrics import f1_per_au

    run_dir = args.run_dir
    data_dir = resolve_data_dir(run_dir, None)
    train = load_split_arrays(data_dir, "train")
    held_out = load_split_arrays(data_dir, "validation")
    videos = video_sequences(held_out.subject, held_out.task, held_out.view, held_out.frame)

    def mean_f1(labels, probabilities):
        return float(np.nanmean(np.asarray(f1_per_au(labels, (probabilities > 0.5).astype(np.int8)), float)))

    features = np.load(os.path.join(run_dir, CHU_FEATURES_FILE))
    print(f"run: {run_dir}")
    print(
        f"CNN mean frame F1: training frames {mean_f1(train.au, features['train_au']):.3f}, "
        f"held-out {mean_f1(held_out.au, features['val_au']):.3f}"
    )

    model = keras.saving.load_model(os.path.join(run_dir, model_file("cnn_lstm")), compile=False)
    _, preprocessing = run_preprocessing(run_dir)
    scores = predict_videos(model, held_out, videos, preprocessing)

    def line(label, probabilities, threshold=0.5):
        m = sequence_metrics(held_out.au, probabilities, threshold, videos)
        print(f"{label:<44} {m['f1']['mean']:>8.3f} {m['f1_event']['mean']:>9.3f}")

    print(f"{'held-out subjects':<44} {'F1-frame':>8} {'F1-event':>9}")
    for name in ("cnn", "lstm", "fusion"):
        line(f"{name} (the run)", scores[name], THRESHOLDS[name])
    widths = [int(w) for w in args.widths.split(",")]
    for width in widths:
        line(f"cnn, centred moving average of {width} frames", smoothed(scores["cnn"], videos, width))
        line(f"cnn, causal moving average of {width} frames", causal(scores["cnn"], videos, width))
    subjects = held_out.subject
    line(
        "fusion fitted on held-out, LOSO: cnn + lstm",
        leave_one_subject_out([scores["cnn"], scores["lstm"]], held_out.au, subjects),
    )
    line("fusion fitted on held-out, LOSO: cnn alone", leave_one_subject_out([scores["cnn"]], held_out.au, subjects))
    for width in widths:
        line(
            f"the same: cnn + its causal average of {width}",
            leave_one_subject_out([scores["cnn"], causal(scores["cnn"], videos, width)], held_out.au, subjects),
        )


if __name__ == "__main__":
    main()
