"""The preview figure of a synthetic corpus: one subject in the 9 views, and
each AU at apex (level E) next to the neutral face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aufera.au import ACTION_UNITS, NUM_AUS, view_grid
from aufera.errors import AuferaError
from aufera.filenames import CORPUS_MANIFEST, GROUNDTRUTH_DIR, SUBJECTS_FILE
from aufera.synth.config import SynthConfig


def _still_motion(frames: int = 1) -> dict:
    zeros = np.zeros(frames)
    return {
        "yaw": zeros,
        "pitch": zeros,
        "roll": zeros,
        "shift_x": zeros,
        "shift_y": zeros,
        "scale": zeros + 1.0,
        "light": zeros,
    }


def subject_renders(corpus_dir, subject: str | None = None, levels=None):
    """Renders one subject of a corpus with the given AU levels and no motion.

    Args:
        corpus_dir: path of a corpus written by `aufera synth`.
        subject: str. Subject id; defaults to the first training subject.
        levels: 10 floats, AU intensity levels (0-5); defaults to neutral.

    Returns:
        (images, boxes, config): 9 uint8 RGB images in view order, their face
        boxes (9, 4), and the corpus SynthConfig.
    """
    from aufera.synth import writer

    gt = Path(corpus_dir) / GROUNDTRUTH_DIR
    try:
        manifest = json.loads((gt / CORPUS_MANIFEST).read_text())
        subjects = json.loads((gt / SUBJECTS_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise AuferaError(f"{gt}: not a synthetic corpus ({error})") from None
    config = SynthConfig(**manifest["config"])
    if subject is None:
        subject = manifest["splits"]["train"][0]
    if subject not in subjects:
        raise AuferaError(f"{gt / SUBJECTS_FILE}: no subject {subject!r}")
    params = {k: v for k, v in subjects[subject].items() if k != "split"}
    index = sorted(subjects, key=lambda s: (int(s[1:]), s[0] == "M")).index(subject)
    scene = writer._scene(
        json.dumps(params, sort_keys=True),
        config.size,
        config.face_scale,
        config.yaws,
        config.pitches,
        (config.seed, index),
    )
    levels = np.zeros(NUM_AUS, np.float32) if levels is None else np.asarray(levels, np.float32)
    images, boxes, _, _ = writer.render_frame(scene, config, levels, _still_motion(), 0, rng=None)
    return images, boxes, config


def _crop(image, box, margin=0.25):
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = image.shape[:2]
    a, b = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    return image[b : min(int(b + side), h), a : min(int(a + side), w)]


def write_preview(corpus_dir, path, subject: str | None = None) -> Path:
    """Writes the preview figure (PNG) and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neutral, boxes, config = subject_renders(corpus_dir, subject)
    views = view_grid(config.yaws, config.pitches)
    fig = plt.figure(figsize=(15, 7.2), dpi=110)
    outer = fig.add_gridspec(1, 2, width_ratios=[1, 1.9], wspace=0.06)
    left = outer[0].subgridspec(3, 3, wspace=0.03, hspace=0.12)
    for i, view in enumerate(views):
        ax = fig.add_subplot(left[i // 3, i % 3])
        ax.imshow(neutral[i])
        ax.set_title(f"view {view.number}\nyaw {view.yaw:+.0f}, pitch {view.pitch:+.0f}", fontsize=7)
        ax.axis("off")
    right = outer[1].subgridspec(4, 5, wspace=0.03, hspace=0.2)
    frontal = (
        next(i for i, v in enumerate(views) if v.yaw == 0 and v.pitch == 0)
        if any(v.yaw == 0 and v.pitch == 0 for v in views)
        else 4
    )
    base = _crop(neutral[frontal], boxes[frontal])
    for k, au in enumerate(ACTION_UNITS):
        levels = np.zeros(NUM_AUS, np.float32)
        levels[k] = 5.0
        images, _, _ = subject_renders(corpus_dir, subject, levels)
        apex = _crop(images[frontal], boxes[frontal])
        row, col = 2 * (k // 5), k % 5
        for r, (img, label) in enumerate(((base, "neutral"), (apex, f"{au.key} at E"))):
            ax = fig.add_subplot(right[row + r, col])
            ax.imshow(img)
            ax.set_title(label if r else f"{au.key} {au.name}", fontsize=7)
            ax.axis("off")
    fig.suptitle(
        "aufera synthetic corpus: one subject in the 9 views (left); each AU at apex (E) under the "
        "neutral face (right)",
        fontsize=10,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
