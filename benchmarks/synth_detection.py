"""How MTCNN sees the synthetic corpus: detection rate and box IoU per view.

Writes a corpus (the default one unless told otherwise), runs the `mtcnn`
package's MTCNN at default thresholds on its frames and prints, per view, the
share of frames with a face found and the share of those whose box overlaps
the ground-truth face box with IoU >= 0.6.

    python benchmarks/synth_detection.py [--out DIR] [--every N] [synth options as key=value]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.synth.check import detection_report  # noqa: E402
from aufera.synth.config import SynthConfig, default_workers  # noqa: E402
from aufera.synth.writer import write_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="corpus folder (default: a temporary folder)")
    parser.add_argument("--every", type=int, default=1, help="look at every n-th frame")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = SynthConfig(seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        write_corpus(out, config, workers=default_workers(), progress=True)
        report = detection_report(out, every=args.every)
    print(f"corpus: default config, seed {args.seed}, every {args.every} frame(s)")
    print("view  frames  detected  detection_rate  iou>=0.6  median_iou")
    for view, r in report.items():
        print(
            f"{view:>4}  {r['frames']:>6}  {r['detected']:>8}  {r['detection_rate']:>14.3f}  {r['iou_0.6_rate']:>8.3f}"
            f"  {r['median_iou']:>10.3f}"
        )
    total = sum(r["frames"] for r in report.values())
    found = sum(r["detected"] for r in report.values())
    print(
        f"all views: {found}/{total} = {found / total:.3f} detected; "
        f"lowest per-view detection {min(r['detection_rate'] for r in report.values()):.3f}, "
        f"lowest per-view IoU>=0.6 {min(r['iou_0.6_rate'] for r in report.values()):.3f}"
    )


if __name__ == "__main__":
    main()
