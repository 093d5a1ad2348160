"""End-to-end speed of `aufera prepare`: frames/s from videos to TFDS shards.

Writes a synthetic corpus (the default one unless told otherwise), then runs
the whole preparation (decode, find faces, crop to 132x132 grayscale, PNG
encode, write TFRecord shards, training mean, report) twice in one run, into
fresh folders with an empty face cache: with the default face settings
(MTCNN on keyframes, tracking in between) and with MTCNN on every frame.
Prints frames/s for both, their ratio, and how often the two agree on the
face box (IoU >= 0.8).

    python benchmarks/bench_prepare.py [--workers N] [--frames N] [--train-subjects N] [--valid-subjects N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from aufera.data.faces import (  # noqa: E402
    FaceCache,
    FaceConfig,
    box_iou,
)
from aufera.data.fera2017_dataset import _detector  # noqa: E402
from aufera.data.prepare import prepare  # noqa: E402
from aufera.synth.config import SynthConfig, default_workers  # noqa: E402
from aufera.synth.writer import write_corpus  # noqa: E402


def run(corpus: Path, out: Path, workers: int, face: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    report = prepare(corpus, out, workers=workers, face=face, progress=False)
    return time.perf_counter() - start, report


def boxes(out: Path, corpus: Path, face: dict) -> dict:
    cache = FaceCache(out / "face_cache")
    config = FaceConfig(**face)
    found = {}
    for video in sorted(corpus.glob("FERA17_*_MV/*.mp4")):
        faces = cache.load(video, config, _detector().cache_tag)
        found[video.name] = faces.boxes
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--frames", type=int, default=SynthConfig().frames)
    parser.add_argument("--train-subjects", type=int, default=SynthConfig().train_subjects)
    parser.add_argument("--valid-subjects", type=int, default=SynthConfig().valid_subjects)
    args = parser.parse_args()
    config = SynthConfig(frames=args.frames, train_subjects=args.train_subjects, valid_subjects=args.valid_subjects)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_corpus(tmp / "corpus", config, workers=args.workers, progress=False)
        frames = 9 * config.frames * config.tasks * (config.train_subjects + config.valid_subjects)
        print(f"corpus: {frames} frames ({config.size}x{config.size}), workers={args.workers}")
        default_face = {}
        every_face = {"detect_every": 1}
        t_default, r_default = run(tmp / "corpus", tmp / "default", args.workers, default_face)
        t_every, r_every = run(tmp / "corpus", tmp / "every", args.workers, every_face)
        for name, seconds, report in (("default", t_default, r_default), ("every frame", t_every, r_every)):
            kept = sum(s["frames"] for s in report["splits"].values())
            print(
                f"{name:>12}: detect_every={report['face']['detect_every']}, {seconds:.1f} s, "
                f"{frames / seconds:.0f} frames/s end to end, {report['detector_frames']} frames through MTCNN, "
                f"{kept} examples written"
            )
        print(f"speed-up of the default over MTCNN on every frame: {t_every / t_default:.1f}x")
        a, b = boxes(tmp / "default", tmp / "corpus", default_face), boxes(tmp / "every", tmp / "corpus", every_face)
        ious = []
        for name in a:
            for box_a, box_b in zip(a[name], b[name], strict=True):
                if np.all(np.isfinite(box_a)) and np.all(np.isfinite(box_b)):
                    ious.append(box_iou(box_a, box_b))
        ious = np.asarray(ious)
        print(
            f"boxes with IoU >= 0.8 against per-frame detection: {np.mean(ious >= 0.8):.3f} of {len(ious)} frames "
            f"(median IoU {np.median(ious):.3f})"
        )


if __name__ == "__main__":
    main()
