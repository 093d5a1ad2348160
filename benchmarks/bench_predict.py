"""Speed and memory of `aufera predict` on a 640x480 video: frames/s end to end, and peak memory against length.

Writes 640x480 videos of a real face photograph (scikit-image's astronaut)
moving across the frame (mp4v, 30 frames/s), then:

1. speed: in one process, a preset's `AUDetector` predicts a 40-frame clip
   first (start-up: TensorFlow, MTCNN and the model traced), then the
   `--frames` video; prints frames/s end to end (both decodes, MTCNN on
   keyframes, tracking, crops, the model, the table), and the share of the
   time spent finding and tracking the face (the first pass);
2. memory: `aufera predict` on the `--frames` video and on the `--long`
   video, each in a fresh process; prints each one's peak resident memory
   and their ratio.

    python benchmarks/bench_predict.py [--frames 1000] [--long 10000] [--model demo] [--also paper]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


WIDTH, HEIGHT, FPS = 640, 480, 30.0


def write_video(path: Path, frames: int) -> None:
    from aufera.synth.clips import write_photo_clip

    write_photo_clip(path, frames, size=(WIDTH, HEIGHT), fps=FPS, face_side=300)


def speed(model: str, video: Path, clip: Path, batch_size: int) -> dict:
    from aufera.data.faces import video_faces
    from aufera.predict import AUDetector

    detector = AUDetector.from_preset(model, batch_size=batch_size)
    detector.predict_video(clip)  # start-up
    started = time.perf_counter()
    table = detector.predict_video(video)
    total = time.perf_counter() - started
    started = time.perf_counter()
    video_faces(video, detector.face_detector, detector.face_config)
    first_pass = time.perf_counter() - started
    frames = len(table["frame"])
    return {
        "frames": frames,
        "with_face": int(table["success"].sum()),
        "seconds": total,
        "fps": frames / total,
        "first_pass_share": first_pass / total,
        "parameters": int(detector.preset.model.count_params()),
    }


def peak_rss_mb(model: str, video: Path, out: Path) -> float:
    """Peak resident memory of `aufera predict VIDEO` in a fresh process, in MB."""
    code = (
        "import resource, sys\n"
        "from aufera.cli import main\n"
        f"status = main(['predict', {str(video)!r}, '--model', {model!r}, '--out', {str(out)!r}, '--quiet'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames of the speed video (default 1000)")
    parser.add_argument("--long", type=int, default=10000, help="frames of the long video for memory (0: skip)")
    parser.add_argument("--model", default="demo", help="preset handle (default: demo)")
    parser.add_argument("--also", nargs="*", default=["paper"], help="more handles to time (default: paper)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip, video = tmp / "clip.mp4", tmp / "video.mp4"
        write_video(clip, 40)
        write_video(video, args.frames)
        print(f"video: {WIDTH}x{HEIGHT}, {args.frames} frames, {FPS:.0f} frames/s; CPU cores: {os.cpu_count()}")
        for model in [args.model, *args.also]:
            r = speed(model, video, clip, args.batch_size)
            print(
                f"{model:>10}: {r['fps']:.1f} frames/s end to end after start-up ({r['seconds']:.1f} s, "
                f"{r['with_face']}/{r['frames']} frames with a face, {r['parameters']:,} weights); finding and "
                f"tracking the face {100 * r['first_pass_share']:.0f}% of it"
            )
        if args.long:
            long_video = tmp / "long.mp4"
            write_video(long_video, args.long)
            short = peak_rss_mb(args.model, video, tmp / "out-short")
            long = peak_rss_mb(args.model, long_video, tmp / "out-long")
            print(
                f"peak memory of aufera predict: {args.frames} frames {short:.0f} MB, {args.long} frames {long:.0f} MB "
                f"(ratio {long / short:.3f})"
            )


if __name__ == "__main__":
    main()
