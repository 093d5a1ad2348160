"""Serving without aufera's models: an exported SavedModel run on the face crops of a video.

    1. `aufera export --format savedmodel` (here `export_preset_saved_model`):
       the preset (the demo preset unless --model names another) as a
       SavedModel whose signature takes uint8 face crops and does the
       normalisation inside; skipped when --saved-model names an export;
    2. the crops of a video: MTCNN on keyframes, tracking in between
       (`aufera.data.faces.video_faces`), `crop_face` at the preset's size and
       margin (from the preset's `preprocessing.json`);
    3. `tf.saved_model.load(path).serve(crops)`: plain TensorFlow, no Keras
       model class needed; per frame, the present AUs and the view;
    4. the same crops through `AUDetector` (aufera's own route): the
       largest difference, to show the export computes what aufera does.

With no VIDEO, the script writes a 4-second 640x480 clip of scikit-image's
astronaut photograph (`predict_video.demo_clip`).

    python examples/serve_savedmodel.py [VIDEO] [--model HANDLE] [--saved-model DIR] [--out DIR]

Bad input is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402

PROG = "serve_savedmodel"
DEFAULT_OUT = "serve_example"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=None, help="a video file (default: a clip written here)")
    parser.add_argument("--model", default=None, metavar="HANDLE", help="preset handle (default: the demo preset)")
    parser.add_argument("--saved-model", default=None, metavar="DIR", help="an existing export to serve instead")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    return parser


def run(args) -> int:
    import numpy as np
    import tensorflow as tf

    from aufera.data.faces import crop_face, video_faces
    from aufera.data.video import read_frames
    from aufera.export import export_preset_saved_model
    from aufera.predict import AU_NAMES, AUDetector
    from aufera.pretrained import load_preset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.video:
        video = Path(args.video)
        if not video.is_file():
            raise AuferaError(f"{video}: video file does not exist")
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from predict_video import demo_clip

        video = demo_clip(out / "astronaut_clip.mp4", seconds=4.0)

    preset = load_preset(args.model)
    if args.saved_model:
        path = Path(args.saved_model)
        if not path.is_dir():
            raise AuferaError(f"{path}: not a folder (an export of aufera export --format savedmodel)")
    else:
        path = out / "saved_model"
        if not path.exists():
            export_preset_saved_model(preset, path)
        print(f"exported: {path}")

    # The crops, as aufera predict cuts them.
    detector = AUDetector(preset)
    faces = video_faces(video, detector.face_detector, detector.face_config)
    side, margin = preset.crop_shape[0], float(preset.face["margin"])
    rows, crops = [], []
    for i, frame in enumerate(read_frames(video)):
        if faces.kept[i]:
            rows.append(i)
            crops.append(crop_face(frame, faces.boxes[i], size=side, margin=margin))
    if not crops:
        raise AuferaError(f"{video}: no face found in any of its {faces.num_frames} frames")
    crops = np.stack(crops)

    served = tf.saved_model.load(str(path))
    outputs = {key: np.asarray(value) for key, value in served.serve(tf.constant(crops)).items()}
    print(f"{video}: {faces.num_frames} frames, {len(rows)} with a face; outputs {sorted(outputs)}")
    for row in range(0, len(rows), max(1, len(rows) // 5)):
        present = [name for name, on in zip(AU_NAMES, outputs["au_decision"][row], strict=True) if on]
        view = f", view {int(np.argmax(outputs['view'][row])) + 1}" if "view" in outputs else ""
        print(f"  frame {rows[row] + 1}: present {', '.join(present) or 'none'}{view}")

    keras_route = detector.score_crops(crops)
    difference = float(np.max(np.abs(keras_route["au_present"] - outputs["au_present"])))
    same = bool(np.array_equal(keras_route["au_decision"], outputs["au_decision"]))
    print(f"largest difference from aufera's own route: {difference:.2e} (decisions {'equal' if same else 'DIFFER'})")
    return 0 if same and difference < 1e-4 else 1


def main(argv=None) -> int:
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
