"""A trained model on a video through the Python API: the per-frame table into pandas, and a plot.

    1. `AUDetector.from_preset(HANDLE)`: the preset (the demo preset shipped
       in the package unless --model names another: a preset folder, a run
       directory, a URL with #sha256=..., hf://owner/name);
    2. `detector.predict_video(VIDEO)`: MTCNN on keyframes, tracking in
       between, the crops scored in batches; one row per frame;
    3. `pandas.DataFrame(table)`: the table in one call; a few summaries;
    4. `aufera.predict.plot_table`: each AU's probability over time, as a PNG.

With no VIDEO, the script writes a 10-second 640x480 clip of
scikit-image's astronaut photograph moving across the frame, with a
second where the face leaves it (rows with success = 0).

    python examples/predict_video.py [VIDEO] [--model HANDLE] [--out DIR]

Needs pandas (`pip install pandas`, or the dev extra). Bad input is one
line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402

PROG = "predict_video"
DEFAULT_OUT = "predict_example"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=None, help="a video file (default: a clip written here)")
    parser.add_argument("--model", default=None, metavar="HANDLE", help="preset handle (default: the demo preset)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    return parser


def demo_clip(path: Path, seconds: float = 10.0, fps: float = 25.0) -> Path:
    """A 640x480 clip of a real face photograph swaying across the frame; it leaves the frame for one second."""
    from aufera.synth.clips import write_photo_clip

    frames = int(seconds * fps)
    return write_photo_clip(path, frames, fps=fps, absent=(frames // 2, frames // 2 + int(fps)))


def run(args) -> int:
    import pandas as pd

    from aufera.predict import AU_NAMES, AUDetector, plot_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else demo_clip(out / "astronaut_clip.mp4")
    if not video.is_file():
        raise AuferaError(f"{video}: video file does not exist")

    detector = AUDetector.from_preset(args.model)
    print(f"preset: {detector.preset.metadata.get('name', args.model)}")
    table = pd.DataFrame(detector.predict_video(video))
    print(f"{video}: {len(table)} frames, {int(table['success'].sum())} with a face")

    faces = table[table["success"] == 1]
    present = faces[[f"{name}_c" for name in AU_NAMES]].mean().rename(lambda c: c[:-2])
    print("share of frames with a face in which each AU is present:")
    print(present.round(3).to_string())
    if "view" in faces:
        print("most frequent view:", int(faces["view"].mode().iloc[0]))

    csv_path, png_path = out / f"{video.stem}.csv", out / f"{video.stem}_au.png"
    table.to_csv(csv_path, index=False)
    plot_table({c: table[c].to_numpy() for c in table}, png_path, video.name)
    print(f"table: {csv_path}\nplot: {png_path}")
    return 0


def main(argv=None) -> int:
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
