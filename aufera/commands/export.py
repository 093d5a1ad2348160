"""`aufera export`: a preset (or a run) as a SavedModel, a TensorFlow Lite file or a preset folder, uint8 crops in."""

from __future__ import annotations

import os
from pathlib import Path

FORMATS = ("savedmodel", "tflite", "preset")


def add_parser(subparsers) -> None:
    from aufera.filenames import CONFIG_FILE, PRESET_METADATA_FILE

    p = subparsers.add_parser(
        "export",
        help="write a preset or a trained run as a SavedModel, a .tflite file or a preset folder",
        description="Write a detector for serving. savedmodel: a SavedModel folder whose serving signature "
        "(serve, serving_default) takes uint8 face crops (N, H, W, 1) of the preset's crop size, does the scaling, "
        "the mean removal and any centre crop inside, and returns au_present, au_decision (eq. 5) and, for He et "
        "al. presets, view. tflite: the same function as a TensorFlow Lite file (float32 weights). preset: the "
        f"preset folder itself ({PRESET_METADATA_FILE}, weights, mean image, model card), so a run directory "
        "becomes a preset.",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="HANDLE",
        help="the preset: 'demo' (default), a built-in architecture ('cpu-small', 'paper', 'drml/cpu-small', "
        f"'drml/paper': random weights), a preset folder, a run directory of aufera train (with {CONFIG_FILE}), "
        "an https://...tar.gz#sha256=... archive or hf://owner/name",
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="savedmodel, preset: a new (or empty) folder; tflite: the file to write (an existing folder, or a "
        "path ending in '/', gets model.tflite inside)",
    )
    p.set_defaults(run=run)


def tflite_target(out: str) -> Path:
    """The `.tflite` file `--out` names: `out` itself, or `model.tflite` inside a folder or a path ending in '/'."""
    from aufera.export import TFLITE_FILE

    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir():
        return path / TFLITE_FILE
    return path


def size_mb(path: Path) -> float:
    """The size of a file, or of every file in a folder, in MB (10^6 bytes)."""
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def run(args) -> int:
    from aufera import export
    from aufera.files import check_new_file, check_new_folder
    from aufera.pretrained import load_preset

    # The target is checked before the preset is read: a bad --out costs nothing.
    if args.format == "tflite":
        out = check_new_file(tflite_target(args.out))
    else:
        out = check_new_folder(args.out)
    preset = load_preset(args.model)
    if args.format == "savedmodel":
        written, what = export.export_preset_saved_model(preset, out), "SavedModel"
    elif args.format == "tflite":
        written, what = export.export_preset_tflite(preset, out), "TFLite file"
    else:
        written, what = preset.save(out), "preset"
    shape = "x".join(str(d) for d in preset.crop_shape)
    print(f"{what} of {preset.source} ({shape} uint8 crops) written to {written}: {size_mb(Path(written)):.1f} MB")
    return 0
