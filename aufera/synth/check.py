"""Measures how the real face detector sees a synthetic corpus.

For every video of the corpus (or every n-th frame), runs the `mtcnn`
package's pretrained MTCNN at its default thresholds on every frame (through
`aufera.data.faces.FaceDetector`, which keeps the most confident face and
gives the package's own boxes), and compares its box with the ground-truth
face box of that frame and view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aufera.filenames import GROUNDTRUTH_DIR
from aufera.layout import SPLITS


def detection_report(corpus_dir, every: int = 1, progress: bool = True) -> dict:
    """Detection rate and box overlap per view.

    Args:
        corpus_dir: path of a corpus written by `aufera synth`.
        every: int. Look at every n-th frame of each video.
        progress: bool. Show a progress bar.

    Returns:
        {view number: {"frames", "detected", "detection_rate", "iou_0.6_rate"
        (share of detected frames whose box has IoU >= 0.6 with the ground
        truth), "median_iou"}}.
    """
    from tqdm import tqdm

    from aufera.data.faces import FaceDetector, box_iou
    from aufera.data.video import read_frames

    root = Path(corpus_dir)
    detector = FaceDetector()
    from aufera.data.fera2017 import declared_views

    views = declared_views(root)
    seen = {v: [0, []] for v in views}
    files = sorted((root / GROUNDTRUTH_DIR).glob("*.npz"))
    for npz in tqdm(files, desc="mtcnn", unit="session", disable=not progress):
        truth = np.load(npz)["face_box"]
        split = next(s for s in SPLITS if f"_{s.code}_" in npz.stem)
        for view in views:
            video = read_frames(root / split.video_dir / f"{npz.stem}_{view}.mp4")
            index, frames = zip(*[(t, f) for t, f in enumerate(video) if t % every == 0], strict=True)
            for t, found in zip(index, detector.detect(frames), strict=True):
                seen[view][0] += 1
                if found is not None:
                    seen[view][1].append(box_iou(found.box, truth[view - 1, t]))
    report = {}
    for view, (frames, ious) in seen.items():
        ious = np.asarray(ious)
        report[view] = {
            "frames": frames,
            "detected": len(ious),
            "detection_rate": len(ious) / frames if frames else 0.0,
            "iou_0.6_rate": float(np.mean(ious >= 0.6)) if len(ious) else 0.0,
            "median_iou": float(np.median(ious)) if len(ious) else 0.0,
        }
    return report
