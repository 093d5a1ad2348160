"""The CNN-LSTM of Chu et al. 2019, step by step through aufera's public API.

The same job as `aufera reproduce --paper chu2019`, one call per step:

    1. data      `chu_corpus_config` + `write_corpus`: a synthetic corpus with
                 time in it (sessions of 300 frames, 3 views, FERA-like AU
                 episodes; skipped with --data-dir, a licensed FERA 2017 copy);
    2. prepare   `prepare(..., image_size=200)`: MTCNN face crops of 200 px, of
                 which the CNN takes the centre 176 crop;
    3. train     `train` with the "chu2019-cpu-small" config: the spatial CNN
                 per frame, the PCA of its fc7 (fitted on the training frames),
                 the LSTMs on random subsequences (max-margin loss, burn-in,
                 the active-AU filter), the fusion network, and the whole
                 `CNNLSTM` saved as one .keras file;
    4. the model `keras.saving.load_model(..., safe_mode=True)` of the whole
                 model, run on one held-out video of face crops (N, T, H, W, 1);
    5. evaluate  `evaluate_chu_run`: frame F1, event F1 and AUC of the CNN,
                 the LSTMs and the fusion on whole held-out videos; the CNN
                 again with multi-label stratification and with MOMU;
                 `chu_tables_text` prints Tables 1-2 and 3-4 in shape.

Run it from the repository root (with aufera installed):

    python examples/cnn_lstm_chu2019.py --quick      # smoke run: smaller corpus, shorter training
    python examples/cnn_lstm_chu2019.py              # the CNN-LSTM corpus, cpu-small config

OUT (default ./cnn_lstm_example) has the layout of `aufera reproduce --paper
chu2019`: corpus-chu/, data-chu/, run-chu/, run-chu-stratified/,
run-chu-momu/. Every step resumes after an interruption.

Bad input (a negative seed, a folder that is not there) is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.commands import validators  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.reproduce import (  # noqa: E402
    CHU_CORPUS_DIR,
    CHU_DATA_DIR,
    CHU_FERA_PRESET,
    CHU_RUN_DIR,
    CHU_SAMPLER_RUN_DIRS,
    CHU_SYNTHETIC_PRESET,
    QUICK_CHU_SYNTH,
    QUICK_CHU_TRAIN,
    chu_corpus_config,
    chu_sampler_overrides,
    dataset_side,
)

PROG = "cnn_lstm_chu2019"
DEFAULT_OUT = "cnn_lstm_example"


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line arguments."""
    parser = OneLineParser(
        prog=PROG,
        description="Chu et al. 2019's CNN-LSTM step by step: a synthetic corpus with long sessions (default) or a "
        "FERA 2017 copy (--data-dir), 200-px crops, the CNN, PCA, LSTMs and fusion trained, the whole model run "
        "on one video, CNN vs LSTM vs CNN+LSTM and random vs stratified vs MOMU evaluated on whole videos.",
    )
    validators.add_reproduction_options(parser, DEFAULT_OUT, "smaller corpus and training (as reproduce --quick)")
    return parser


def synth_config(args):
    """Step 1's corpus: `CHU_SYNTH` (with `QUICK_CHU_SYNTH` under --quick), seeded."""
    from aufera.synth.config import SynthConfig

    config = chu_corpus_config(args.seed)
    return SynthConfig(**{**config.to_dict(), **QUICK_CHU_SYNTH}) if args.quick else config


def train_overrides(args) -> list[str]:
    """The `key=value` overrides of the training config: the seed, and QUICK_CHU_TRAIN under --quick."""
    return [f"seed={args.seed}", *(QUICK_CHU_TRAIN if args.quick else [])]


def run_one_video(run_dir: Path, dataset, preset: str) -> dict:
    """Step 4: the saved whole model on the first held-out video; returns the video and its present frames per AU.

    `predict_videos` preprocesses the video's frames as training did (the
    preset's scale, the training mean, the centre crop) and runs the model
    on the whole sequence, gaps masked.
    """
    import keras

    import aufera.models  # noqa: F401  (registers the classes the .keras file names)
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.sequences import video_sequences
    from aufera.evaluation.chu import THRESHOLDS, predict_videos
    from aufera.preprocessing import Preprocessing

    model = keras.saving.load_model(run_dir / "cnn_lstm.keras", safe_mode=True)
    arrays = load_split_arrays(dataset, "validation")
    video = video_sequences(arrays.subject, arrays.task, arrays.view, arrays.frame)[0]
    scores = predict_videos(model, arrays, [video], Preprocessing.of_preset(preset, "chu2019"))["fusion"]
    present = scores[video.rows[video.mask]] > THRESHOLDS["fusion"]
    return {"video": f"{video.subject} {video.task} view {video.view + 1}", "frames": len(video), "present": present}


def run(args) -> dict:
    """Runs the five steps; returns the metrics of the CNN-LSTM run and of the samplers."""
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise AuferaError(f"--data-dir {args.data_dir}: not a folder")
    from aufera.au import AU_KEYS
    from aufera.commands.train import format_summary
    from aufera.config import resolve_config
    from aufera.data.prepare import prepare
    from aufera.evaluation.chu import chu_tables_text, evaluate_chu_run
    from aufera.synth.writer import write_corpus
    from aufera.training import train

    started = time.perf_counter()
    out = Path(args.out)
    workers = args.workers
    progress = not args.quiet

    # 1. A corpus with time in it (resumes an interrupted one), or the FERA 2017 copy given.
    if args.data_dir is None:
        source, preset = out / CHU_CORPUS_DIR, CHU_SYNTHETIC_PRESET
        print(f"[1/5] synthetic corpus with long sessions -> {source}", flush=True)
        write_corpus(source, synth_config(args), workers=workers, progress=progress)
    else:
        source, preset = Path(args.data_dir), CHU_FERA_PRESET
        print(f"[1/5] FERA 2017 copy: {source}", flush=True)

    # 2. 200-px face crops.
    size = dataset_side(preset)
    print(f"[2/5] prepare {size}-px crops -> {out / CHU_DATA_DIR}", flush=True)
    report = prepare(source, out / CHU_DATA_DIR, image_size=size, workers=workers, progress=progress)
    dataset, synthetic = report["dataset"], bool(report["synthetic"])

    # 3. The CNN, the PCA, the LSTMs, the fusion network: one `train` call, stage after stage.
    run_dir = out / CHU_RUN_DIR
    config = resolve_config(preset, train_overrides(args))
    print(f"[3/5] train the CNN-LSTM ({config.preset}) -> {run_dir}", flush=True)
    summary = train(config, dataset, run_dir, progress=progress)
    print(format_summary(summary), flush=True)

    # 4. The whole model, loaded from one file, on one held-out video.
    one = run_one_video(run_dir, dataset, config.model.preset)
    counts = ", ".join(f"{key} {int(n)}" for key, n in zip(AU_KEYS, one["present"].sum(0), strict=True))
    print(f"[4/5] cnn_lstm.keras on {one['video']} ({one['frames']} frames): frames present per AU: {counts}")

    # 5. CNN vs LSTM vs fusion on whole held-out videos; the CNN with the other two samplers.
    print("[5/5] evaluate on whole held-out videos", flush=True)
    samplers = {"random": evaluate_chu_run(run_dir, dataset, synthetic=synthetic, progress=progress)}
    for sampler, name in CHU_SAMPLER_RUN_DIRS.items():
        cnn_config = resolve_config(preset, train_overrides(args) + chu_sampler_overrides(sampler))
        print(f"      the CNN alone with sampler={sampler} -> {out / name}", flush=True)
        train(cnn_config, dataset, out / name, progress=progress)
        samplers[sampler] = evaluate_chu_run(out / name, dataset, synthetic=synthetic, progress=progress)
    print()
    print(chu_tables_text(samplers["random"], samplers, synthetic))
    print(f"done in {time.perf_counter() - started:.0f} s")
    return samplers


def main(argv=None) -> int:
    """Parses the arguments and runs the example; returns the exit status (2 on bad input)."""
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
