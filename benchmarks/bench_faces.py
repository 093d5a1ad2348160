"""Speed and box agreement of face finding: keyframes + tracking against MTCNN on every frame.

Writes a synthetic corpus (the default one unless told otherwise), then, on the
same videos and in the same run (the two alternate video by video, so both see
the same machine load), times the whole per-video pre-processing the dataset
builder does:

    (a) the default settings: `video_faces` (decode, MTCNN on keyframes, optical
        flow in between), then decode again, crop to 132x132 grayscale and
        PNG-encode every kept frame with cv2.imencode;
    (b) MTCNN on every frame, with the same detector (batched, compiled) and
        the same decode / crop / encode (`detect_every=1`);
    (c) for information, on the first few videos, the `mtcnn` package as
        usually called (`MTCNN().detect_faces(frame)`, one frame per call,
        eager), with the same decode / crop / encode.

Prints frames/s of each, the ratios, and how well the boxes of (a) agree with
those of (b) (IoU of the detection boxes and of the square crop boxes) and with
the ground truth. `--workers N` also times (a) and (b) with N processes over
the videos (each with its own detector).

    python benchmarks/bench_faces.py [--out DIR] [--frames N] [--train-subjects N] [--valid-subjects N]
        [--tasks N] [--size PX] [--detect-every K] [--tracking flow|linear] [--workers N] [--naive-videos N]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from aufera.data.faces import (  # noqa: E402
    FaceConfig,
    FaceDetector,
    box_iou,
    crop_box,
    crop_face,
    video_faces,
)
from aufera.data.fera2017 import find_sessions  # noqa: E402
from aufera.data.video import read_frames  # noqa: E402
from aufera.filenames import GROUNDTRUTH_DIR  # noqa: E402
from aufera.synth.config import SynthConfig, default_workers  # noqa: E402
from aufera.synth.writer import write_corpus  # noqa: E402


def crop_and_encode(video: Path, boxes: np.ndarray, config: FaceConfig) -> int:
    """Decodes the video again and PNG-encodes the crop of every frame with a box; returns the bytes written."""
    written = 0
    for index, frame in enumerate(read_frames(video)):
        if index < len(boxes) and np.all(np.isfinite(boxes[index])):
            crop = crop_face(frame, boxes[index], size=config.image_size, margin=config.margin)
            ok, png = cv2.imencode(".png", crop)
            written += len(png) if ok else 0
    return written


def process(video: Path, detector, config: FaceConfig) -> tuple[np.ndarray, int, float, float]:
    """One video end to end: returns the boxes, the detector's frame count, seconds finding faces, seconds cropping."""
    start = time.perf_counter()
    faces = video_faces(video, detector, config)
    middle = time.perf_counter()
    crop_and_encode(video, faces.boxes, config)
    return faces.boxes, faces.detected_frames, middle - start, time.perf_counter() - middle


def process_naive(video: Path, mtcnn, config: FaceConfig) -> float:
    """(c): the package called once per frame, eager; returns the seconds taken."""
    start = time.perf_counter()
    boxes = []
    for frame in read_frames(video):
        found = mtcnn.detect_faces(frame, box_format="xyxy")
        boxes.append(max(found, key=lambda f: f["confidence"])["box"] if found else [np.nan] * 4)
    crop_and_encode(video, np.asarray(boxes, dtype=np.float64), config)
    return time.perf_counter() - start


_WORKER = {}


def _init_worker() -> None:
    cv2.setNumThreads(1)
    import tensorflow as tf

    # One thread per process: the processes share the cores instead of fighting over them.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _WORKER["detector"] = FaceDetector()


def _worker_job(job) -> int:
    video, config = job
    boxes, _, _, _ = process(Path(video), _WORKER["detector"], config)
    return len(boxes)


def run_workers(videos: list[Path], config: FaceConfig, workers: int) -> tuple[int, float]:
    """Frames and wall seconds for all videos with `workers` processes (start-up and warm-up not counted)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker) as pool:
        # Warm up every worker (TensorFlow import, graph tracing) before timing.
        pool.map(_worker_job, [(str(videos[0]), config)] * workers, chunksize=1)
        start = time.perf_counter()
        frames = sum(pool.imap_unordered(_worker_job, [(str(v), config) for v in videos], chunksize=1))
        return frames, time.perf_counter() - start


def agreement(boxes: np.ndarray, reference: np.ndarray, margin: float) -> tuple[list[float], list[float]]:
    """IoU of the detection boxes and of the crop squares, on frames where both have a box."""
    raw, crop = [], []
    for box, other in zip(boxes, reference, strict=False):
        if np.all(np.isfinite(box)) and np.all(np.isfinite(other)):
            raw.append(box_iou(box, other))
            crop.append(box_iou(crop_box(box, margin), crop_box(other, margin)))
    return raw, crop


def parse_sweep(text: str) -> list[tuple[int, str]]:
    """ "16:flow,8:linear" -> [(16, "flow"), (8, "linear")]."""
    items = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        every, _, tracking = part.partition(":")
        items.append((int(every), tracking or "flow"))
    return items


def share(values, threshold: float) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.mean(values >= threshold)) if len(values) else float("nan")


def main() -> None:
    defaults = SynthConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="corpus folder, reused if it holds one (default: a temporary folder)")
    parser.add_argument("--train-subjects", type=int, default=defaults.train_subjects)
    parser.add_argument("--valid-subjects", type=int, default=defaults.valid_subjects)
    parser.add_argument("--tasks", type=int, default=defaults.tasks)
    parser.add_argument("--frames", type=int, default=defaults.frames)
    parser.add_argument("--size", type=int, default=defaults.size)
    parser.add_argument("--detect-every", type=int, default=FaceConfig().detect_every)
    parser.add_argument("--tracking", default=FaceConfig().tracking, choices=("flow", "linear"))
    parser.add_argument("--workers", type=int, default=1, help="also time N worker processes (N > 1)")
    parser.add_argument("--naive-videos", type=int, default=9, help="videos timed with the package as is (0: skip)")
    parser.add_argument(
        "--sweep",
        default="",
        help="more settings K:tracking timed and compared with (b), e.g. 8:flow,16:flow,16:linear",
    )
    args = parser.parse_args()

    synth = SynthConfig(
        train_subjects=args.train_subjects,
        valid_subjects=args.valid_subjects,
        tasks=args.tasks,
        frames=args.frames,
        size=args.size,
    )
    config = FaceConfig(detect_every=args.detect_every, tracking=args.tracking)
    every = dataclasses.replace(config, detect_every=1, keyframes_per_call=32)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        start = time.perf_counter()
        write_corpus(root, synth, workers=default_workers(), progress=False)
        print(f"corpus: written or checked in {time.perf_counter() - start:.1f} s at {root}")
        sessions, _ = find_sessions(root)
        videos = [(s, view, Path(s.videos[view])) for s in sessions for view in s.views]
        print(
            f"corpus: {synth.train_subjects}+{synth.valid_subjects} subjects x {synth.tasks} sessions x "
            f"{synth.frames} frames x 9 views, {synth.size}x{synth.size} px: {len(videos)} videos"
        )
        print(f"settings (a): {config.to_dict()}")

        detector = FaceDetector()
        start = time.perf_counter()
        for warm in (config, every):  # TensorFlow import, weights, graph tracing
            process(videos[0][2], detector, warm)
        print(f"detector warm-up: {time.perf_counter() - start:.1f} s (not counted)")

        totals = {"a": [0.0, 0.0, 0], "b": [0.0, 0.0, 0]}
        frames = 0
        iou_raw, iou_crop, gt_a, gt_b, dropped = [], [], [], [], {"a": 0, "b": 0}
        truth_cache, reference = {}, []
        for session, view, video in videos:
            boxes_a, det_a, find_a, crop_a = process(video, detector, config)
            boxes_b, det_b, find_b, crop_b = process(video, detector, every)
            for key, find, crop, det, boxes in (
                ("a", find_a, crop_a, det_a, boxes_a),
                ("b", find_b, crop_b, det_b, boxes_b),
            ):
                totals[key][0] += find
                totals[key][1] += crop
                totals[key][2] += det
                dropped[key] += int(np.sum(~np.all(np.isfinite(boxes), axis=1)))
            frames += len(boxes_a)
            reference.append(boxes_b)
            if session.name not in truth_cache:
                truth_cache[session.name] = np.load(root / GROUNDTRUTH_DIR / f"{session.name}.npz")["face_box"]
            truth = truth_cache[session.name][view - 1]
            raw, crop = agreement(boxes_a, boxes_b, config.margin)
            iou_raw.extend(raw)
            iou_crop.extend(crop)
            for t in range(len(boxes_a)):
                a_ok, b_ok = np.all(np.isfinite(boxes_a[t])), t < len(boxes_b) and np.all(np.isfinite(boxes_b[t]))
                if t < len(truth):
                    gt_a.append(box_iou(boxes_a[t], truth[t]) if a_ok else 0.0)
                    gt_b.append(box_iou(boxes_b[t], truth[t]) if b_ok else 0.0)

        seconds = {key: find + crop for key, (find, crop, _) in totals.items()}
        fps = {key: frames / s for key, s in seconds.items()}
        labels = {
            "a": f"(a) keyframes every {config.detect_every} + {config.tracking}",
            "b": "(b) MTCNN every frame (batched, compiled)",
        }
        print(f"frames: {frames}")
        for key in ("a", "b"):
            find, crop, det = totals[key]
            print(
                f"{labels[key]}: {fps[key]:.1f} frames/s ({seconds[key]:.1f} s: find faces {find:.1f} s, "
                f"decode+crop+PNG {crop:.1f} s); detector ran on {det} frames ({det / frames:.1%}); "
                f"dropped {dropped[key]}"
            )
        print(f"speed-up (a) over (b): {seconds['b'] / seconds['a']:.1f}x")
        if args.naive_videos > 0:
            from mtcnn import MTCNN

            mtcnn = MTCNN()
            process_naive(videos[0][2], mtcnn, config)
            naive = videos[: args.naive_videos]
            naive_seconds = sum(process_naive(video, mtcnn, config) for _, _, video in naive)
            naive_frames = sum(1 for _, _, video in naive for _ in read_frames(video))
            naive_fps = naive_frames / naive_seconds
            print(
                f"(c) mtcnn package as is, one frame per call, on {len(naive)} videos ({naive_frames} frames): "
                f"{naive_fps:.1f} frames/s; speed-up (a) over (c): {fps['a'] / naive_fps:.1f}x, "
                f"(b) over (c): {fps['b'] / naive_fps:.1f}x"
            )
        print(
            f"agreement of (a) with (b), {len(iou_raw)} frames with both boxes: crop square IoU >= 0.8: "
            f"{share(iou_crop, 0.8):.1%}; detection box IoU >= 0.8: {share(iou_raw, 0.8):.1%}; "
            f"median box IoU {np.median(iou_raw):.3f}"
        )
        print(
            f"against ground truth (dropped = 0): box IoU >= 0.6: (a) {share(gt_a, 0.6):.1%}, (b) {share(gt_b, 0.6):.1%}; "
            f"IoU >= 0.8: (a) {share(gt_a, 0.8):.1%}, (b) {share(gt_b, 0.8):.1%}"
        )
        for every_k, tracking in parse_sweep(args.sweep):
            other = dataclasses.replace(config, detect_every=every_k, tracking=tracking)
            seconds_x, detector_x, crops = 0.0, 0, []
            for (_, _, video), boxes_b in zip(videos, reference, strict=True):
                boxes_x, det_x, find_x, crop_x = process(video, detector, other)
                seconds_x += find_x + crop_x
                detector_x += det_x
                crops.extend(agreement(boxes_x, boxes_b, config.margin)[1])
            print(
                f"sweep: keyframes every {every_k} + {tracking}: {frames / seconds_x:.1f} frames/s, "
                f"{seconds['b'] / seconds_x:.1f}x over (b); detector ran on {detector_x / frames:.1%} of frames; "
                f"crop square IoU >= 0.8 with (b): {share(crops, 0.8):.1%}"
            )
        if args.workers > 1:
            paths = [video for _, _, video in videos]
            walls = {}
            for key, settings in (("a", config), ("b", every)):
                count, walls[key] = run_workers(paths, settings, args.workers)
                print(
                    f"{labels[key]}, {args.workers} workers: {count / walls[key]:.1f} frames/s "
                    f"({count} frames, {walls[key]:.1f} s)"
                )
            print(f"speed-up (a) over (b), {args.workers} workers: {walls['b'] / walls['a']:.1f}x")


if __name__ == "__main__":
    main()
