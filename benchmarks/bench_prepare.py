"""Preparation at FERA scale: face finding and `aufera prepare` end to end on ~1,000-frame videos.

Writes (or reuses, with `--corpus DIR`) a synthetic corpus of long sessions
(by default 1 training and 1 validation subject, 1 session each, 1,000
frames x 9 views of 160x160: 18,000 frames), then measures, in one run so
that the ratios share the machine's load:

1. **Face finding** in one process, with one detector (MTCNN, batched,
   compiled), from the video files (decode included), no cache. Per session,
   the three methods take turns:
     (b)  per-frame: the same detector on every frame (`detect_every=1`,
          batches of 32 frames), video by video;
     (a1) keyframes (every 32 frames, optical flow between), video by video
          (`video_faces`);
     (a2) keyframes batched over the 9 views (`videos_faces`: the views
          decoded side by side, the keyframes of all 9 in one detector call
          per window).
   Prints frames/s, the ratios over (b), the detector's calls and frames, and
   the share of frames whose box (and crop square) has IoU >= 0.8 with (b).
2. **Where the time goes** on one long video: decoding, the flow, cropping,
   and PNG encoding by OpenCV (what the builder uses) against the `image`
   feature's own encoder (TensorFlow).
3. **End to end**: the whole `aufera prepare` (find the faces in `--workers`
   processes, write the TFDS shards, training mean, report) into fresh
   folders with an empty face cache, for (b), (a1) and (a2); frames/s, the
   ratios, and the time of each step. `--workers-sweep 1,2` also runs (a2)
   with other worker counts.

    python benchmarks/bench_prepare.py [--corpus DIR] [--frames 1000] [--train-subjects 1] [--valid-subjects 1]
        [--tasks 1] [--workers N] [--workers-sweep 1,2] [--skip-faces] [--skip-prepare]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from aufera.data import prepare as prep  # noqa: E402
from aufera.data.examples import _detector, png_bytes  # noqa: E402
from aufera.data.faces import (  # noqa: E402
    FaceCache,
    FaceConfig,
    FaceDetector,
    box_iou,
    crop_box,
    crop_face,
    track_video,
    track_videos,
    video_faces,
    videos_faces,
)
from aufera.data.faces.tracker import _flow_gray, _track_interval  # noqa: E402
from aufera.data.fera2017 import find_sessions  # noqa: E402
from aufera.data.fera2017_dataset import Fera2017  # noqa: E402
from aufera.data.video import read_frames  # noqa: E402
from aufera.synth.config import SynthConfig, default_workers  # noqa: E402
from aufera.synth.writer import write_corpus  # noqa: E402

KEYFRAMES = FaceConfig()
PER_FRAME = dataclasses.replace(KEYFRAMES, detect_every=1, keyframes_per_call=32)
LABELS = {
    "b": "(b)  per-frame, same detector",
    "a1": "(a1) keyframes, video by video",
    "a2": "(a2) keyframes, 9 views batched",
}


class CountingDetector:
    """Passes calls to a `FaceDetector` and counts them (calls, images)."""

    def __init__(self, detector: FaceDetector):
        self.detector = detector
        self.cache_tag = detector.cache_tag
        self.calls = 0
        self.images = 0

    def detect(self, images):
        self.calls += 1
        self.images += len(images)
        return self.detector.detect(images)


def share(values, threshold: float) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.mean(values >= threshold)) if len(values) else float("nan")


def agreement(boxes: np.ndarray, reference: np.ndarray, margin: float) -> tuple[list[float], list[float], int]:
    """IoU of the boxes and of the crop squares on frames where both have a box; frames where only one has one."""
    raw, crop, one_sided = [], [], 0
    for box, other in zip(boxes, reference, strict=True):
        a, b = bool(np.all(np.isfinite(box))), bool(np.all(np.isfinite(other)))
        if a and b:
            raw.append(box_iou(box, other))
            crop.append(box_iou(crop_box(box, margin), crop_box(other, margin)))
        elif a != b:
            one_sided += 1
    return raw, crop, one_sided


def warm_up(detector, session) -> float:
    """TensorFlow import, weights and the graph tracing of the batch shapes used below; not counted."""
    start = time.perf_counter()
    clips = []
    for view in session.views:
        frames = []
        for index, frame in enumerate(read_frames(session.videos[view])):
            if index == 70:
                break
            frames.append(frame)
        clips.append(frames)
    for _ in range(2):
        track_videos(clips, detector, KEYFRAMES)
        track_video(clips[0], detector, KEYFRAMES)
        track_video(clips[0], detector, PER_FRAME)
    return time.perf_counter() - start


def face_finding(sessions, detector: FaceDetector) -> None:
    counting = CountingDetector(detector)
    print(f"detector warm-up: {warm_up(detector, sessions[0]):.1f} s (not counted)")
    seconds = {key: 0.0 for key in LABELS}
    cpu = {key: 0.0 for key in LABELS}
    calls = {key: 0 for key in LABELS}
    images = {key: 0 for key in LABELS}
    boxes = {key: [] for key in LABELS}
    frames = 0

    def timed(key, function):
        calls_before, images_before = counting.calls, counting.images
        start, cpu_start = time.perf_counter(), time.process_time()
        result = function()
        seconds[key] += time.perf_counter() - start
        cpu[key] += time.process_time() - cpu_start
        calls[key] += counting.calls - calls_before
        images[key] += counting.images - images_before
        return result

    for turn, session in enumerate(sessions):
        paths = [session.videos[view] for view in session.views]
        found = {}
        runs = {
            "b": lambda paths=paths: [video_faces(path, counting, PER_FRAME) for path in paths],
            "a1": lambda paths=paths: [video_faces(path, counting, KEYFRAMES) for path in paths],
            "a2": lambda paths=paths: videos_faces(paths, counting, KEYFRAMES),
        }
        order = list(LABELS)
        order = order[turn % 3 :] + order[: turn % 3]  # each method goes first in turn
        for key in order:
            found[key] = timed(key, runs[key])
        for key in LABELS:
            boxes[key].extend(faces.boxes for faces in found[key])
        frames += sum(faces.num_frames for faces in found["b"])
        print(
            f"  session {session.name}: {len(paths)} views, {sum(f.num_frames for f in found['b'])} frames; "
            + ", ".join(f"{key} {seconds[key]:.1f} s" for key in LABELS)
            + " (cumulative)"
        )
    print(f"face finding, 1 process, {frames} frames (decode + detection + tracking, no cache):")
    for key, label in LABELS.items():
        dropped = sum(int(np.sum(~np.all(np.isfinite(b), axis=1))) for b in boxes[key])
        print(
            f"  {label}: {frames / seconds[key]:7.1f} frames/s ({seconds[key]:.1f} s, CPU {cpu[key]:.1f} s); "
            f"detector: {calls[key]} calls, {images[key]} frames ({images[key] / frames:.1%}); dropped {dropped}"
        )
    print(
        f"  speed-up over (b): (a1) {seconds['b'] / seconds['a1']:.1f}x, (a2) {seconds['b'] / seconds['a2']:.1f}x; "
        f"(a2) over (a1): {seconds['a1'] / seconds['a2']:.2f}x"
    )
    print(
        f"  in CPU time (all threads of this process): (a1) {cpu['b'] / cpu['a1']:.1f}x, (a2) "
        f"{cpu['b'] / cpu['a2']:.1f}x; (a2) over (a1): {cpu['a1'] / cpu['a2']:.2f}x"
    )
    for key in ("a1", "a2"):
        raw, crop, one_sided = [], [], 0
        for mine, reference in zip(boxes[key], boxes["b"], strict=True):
            r, c, o = agreement(mine, reference, KEYFRAMES.margin)
            raw += r
            crop += c
            one_sided += o
        print(
            f"  {key} against (b), {len(raw)} frames with both boxes ({one_sided} with only one): box IoU >= 0.8: "
            f"{share(raw, 0.8):.1%}, crop square IoU >= 0.8: {share(crop, 0.8):.1%}, median box IoU "
            f"{np.median(raw):.3f}"
        )
    differences = np.concatenate(
        [np.nanmax(np.abs(a - b), axis=1, initial=0.0) for a, b in zip(boxes["a2"], boxes["a1"], strict=True)]
    )
    same_drops = all(
        np.array_equal(np.isfinite(a), np.isfinite(b)) for a, b in zip(boxes["a2"], boxes["a1"], strict=True)
    )
    print(
        f"  (a2) against (a1): frames whose box moved by more than 0.01 px: {int(np.sum(differences > 0.01))} of "
        f"{len(differences)} (largest {differences.max():.2f} px; MTCNN's float rounding depends on the batch); "
        f"same frames dropped: {same_drops}"
    )


def time_per_frame(function, items) -> float:
    start = time.perf_counter()
    for item in items:
        function(item)
    return (time.perf_counter() - start) / max(1, len(items)) * 1000


def where_the_time_goes(video: Path, detector: FaceDetector) -> None:
    """Per-frame costs of the steps on one long video, in ms (one process)."""
    import tensorflow_datasets as tfds

    start = time.perf_counter()
    frames = list(read_frames(video))
    decode = (time.perf_counter() - start) / len(frames) * 1000
    faces = video_faces(video, detector, KEYFRAMES)
    scale = min(1.0, 320 / max(frames[0].shape[:2]))
    start = time.perf_counter()
    grays = [_flow_gray(frame, scale) for frame in frames]
    gray = (time.perf_counter() - start) / len(frames) * 1000
    keys = list(range(0, len(frames), KEYFRAMES.detect_every))
    start = time.perf_counter()
    for a, z in zip(keys[:-1], keys[1:], strict=True):
        _track_interval(grays[a : z + 1], faces.boxes[a], faces.boxes[z], scale, 0.0)
    flow = (time.perf_counter() - start) / max(1, keys[-1]) * 1000
    pairs = [(frame, box) for frame, box in zip(frames, faces.boxes, strict=True) if np.all(np.isfinite(box))]
    crops = []
    crop = time_per_frame(lambda pair: crops.append(crop_face(pair[0], pair[1], KEYFRAMES.image_size)), pairs)
    feature = tfds.features.Image(shape=(KEYFRAMES.image_size,) * 2 + (1,), dtype=np.uint8, encoding_format="png")
    feature.encode_example(crops[0])
    opencv = time_per_frame(png_bytes, crops)
    tensorflow = time_per_frame(feature.encode_example, crops)
    sizes = (
        np.mean([len(png_bytes(c)) for c in crops[:200]]),
        np.mean([len(feature.encode_example(c)) for c in crops[:200]]),
    )
    same = all(
        np.array_equal(cv2.imdecode(np.frombuffer(png_bytes(c), np.uint8), cv2.IMREAD_UNCHANGED), c[..., 0])
        for c in crops[:50]
    )
    batch = frames[:32]
    detector.detect(batch)
    start = time.perf_counter()
    detector.detect(batch)
    detect = (time.perf_counter() - start) / len(batch) * 1000
    print(f"where the time goes, per frame, on {video.name} ({len(frames)} frames, 1 process):")
    print(
        f"  decode (OpenCV, to RGB) {decode:.3f} ms; flow gray {gray:.3f} ms; flow step {flow:.3f} ms; "
        f"MTCNN {detect:.1f} ms per image in a batch of 32"
    )
    print(
        f"  crop + grayscale + resize {crop:.3f} ms; PNG encode: OpenCV {opencv:.3f} ms ({sizes[0]:.0f} bytes), "
        f"TensorFlow (the feature's own) {tensorflow:.3f} ms ({sizes[1]:.0f} bytes): {tensorflow / opencv:.1f}x; "
        f"OpenCV PNG decodes to the same pixels: {same}"
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker pools), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StepTimer:
    """Times the steps of `prepare` (wall and CPU seconds) by wrapping the functions it calls."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._saved = []

    def wrap(self, owner, name: str, label: str) -> None:
        real = getattr(owner, name)
        self._saved.append((owner, name, real))

        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), cpu_seconds()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self.cpu[label] = self.cpu.get(label, 0.0) + cpu_seconds() - cpu

        setattr(owner, name, timed)

    def __enter__(self):
        self.wrap(prep, "find_faces", "find faces")
        self.wrap(Fera2017, "download_and_prepare", "write shards")
        self.wrap(prep, "train_mean", "mean")
        self.wrap(prep, "dataset_counts", "counts")
        return self

    def __exit__(self, *exc_info):
        for owner, name, real in reversed(self._saved):
            setattr(owner, name, real)


def end_to_end(corpus: Path, tmp: Path, frames: int, workers: int, sweep: list[int]) -> None:
    import tensorflow_datasets  # noqa: F401  (imported before timing, as a long-running process would have it)

    runs = [
        ("b", {"detect_every": 1, "keyframes_per_call": 32}, False, workers),
        ("a1", {}, False, workers),
        ("a2", {}, True, workers),
    ] + [("a2", {}, True, count) for count in sweep if count != workers]
    results = {}
    print(f"end to end (aufera prepare, {frames} frames, empty face cache):")
    for index, (key, face, batch_views, count) in enumerate(runs):
        out = tmp / f"prepare-{index}"
        with StepTimer() as steps:
            start, cpu = time.perf_counter(), cpu_seconds()
            report = prep.prepare(corpus, out, workers=count, face=face, progress=False, batch_views=batch_views)
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        written = sum(s["frames"] for s in report["splits"].values())
        shards = sum(f.stat().st_size for f in Path(report["dataset"]).glob("*.tfrecord*"))
        other = seconds - sum(steps.seconds.values())
        parts = ", ".join(f"{name} {value:.1f} s" for name, value in steps.seconds.items())
        cpu_parts = ", ".join(f"{name} {value:.1f} s" for name, value in steps.cpu.items())
        print(
            f"  {LABELS[key]}, {count} workers: {frames / seconds:6.1f} frames/s ({seconds:.1f} s: {parts}, "
            f"other {other:.1f} s); detector frames {report['detector_frames']}; {written} examples, "
            f"shards {shards / 2**20:.1f} MiB"
        )
        print(f"      CPU {cpu:.1f} s ({cpu_parts})")
        if count == workers:
            results[key] = (seconds, out, report)
    for key in ("a1", "a2"):
        print(f"  speed-up of {key} over (b), {workers} workers: {results['b'][0] / results[key][0]:.1f}x")
    print(f"  (a2) over (a1): {results['a1'][0] / results['a2'][0]:.2f}x")
    tag = _detector().cache_tag
    _, out_b, report_b = results["b"]
    for key in ("a1", "a2"):
        _, out_k, report_k = results[key]
        raw = []
        for video in sorted(corpus.glob("FERA17_*_MV/*.mp4")):
            a = FaceCache(out_k / "face_cache").load(video, FaceConfig(**report_k["face"]), tag)
            b = FaceCache(out_b / "face_cache").load(video, FaceConfig(**report_b["face"]), tag)
            raw += agreement(a.boxes, b.boxes, KEYFRAMES.margin)[0]
        print(
            f"  {key} against (b), from the face caches: box IoU >= 0.8 on {share(raw, 0.8):.1%} of {len(raw)} frames"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder, written if empty, reused if it holds this corpus")
    parser.add_argument("--frames", type=int, default=1000, help="frames per session (FERA 2017: about 1,000)")
    parser.add_argument("--train-subjects", type=int, default=1)
    parser.add_argument("--valid-subjects", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--workers", type=int, default=default_workers(), help="worker processes of prepare")
    parser.add_argument("--workers-sweep", default="", help="more worker counts for (a2) end to end, e.g. 1,2")
    parser.add_argument("--skip-faces", action="store_true", help="skip parts 1 and 2 (face finding)")
    parser.add_argument("--skip-prepare", action="store_true", help="skip part 3 (end to end)")
    args = parser.parse_args()
    config = SynthConfig(
        frames=args.frames, train_subjects=args.train_subjects, valid_subjects=args.valid_subjects, tasks=args.tasks
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = Path(args.corpus) if args.corpus else tmp / "corpus"
        start = time.perf_counter()
        write_corpus(corpus, config, workers=default_workers(), progress=False)
        sessions, _ = find_sessions(corpus)
        frames = 9 * config.frames * config.tasks * (config.train_subjects + config.valid_subjects)
        print(
            f"corpus: {config.train_subjects}+{config.valid_subjects} subjects x {config.tasks} sessions x "
            f"{config.frames} frames x 9 views, {config.size}x{config.size} px: {frames} frames "
            f"(written or checked in {time.perf_counter() - start:.0f} s)"
        )
        print(f"settings: keyframes {KEYFRAMES.to_dict()}; per-frame detect_every=1, batches of 32")
        if not args.skip_faces:
            detector = FaceDetector()
            face_finding(sessions, detector)
            where_the_time_goes(Path(sessions[0].videos[5]), detector)
        if not args.skip_prepare:
            sweep = [int(n) for n in args.workers_sweep.split(",") if n.strip()]
            end_to_end(corpus, tmp, frames, args.workers, sweep)


if __name__ == "__main__":
    main()
