"""The demo preset shipped inside the package, and the command that rebuilds it.

The demo preset is the cpu-small Network1 + Network2 (fused by eq. 5) of
the main job, `aufera reproduce --seed 0`, trained on the synthetic corpus.
It is there so that `aufera predict`, `aufera export` and the examples work
out of the box; it is not a measurement on real faces. Rebuild it with:

    aufera reproduce --out OUT --seed 0
    python -m aufera.demo OUT/run aufera/assets/demo

which writes the preset and a model card that shows what it answers on the
two real photographs that ship with matplotlib and scikit-image (computed
when the card is written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aufera.predict import AU_NAMES

DEMO_NOTES = (
    "**Trained on synthetic faces.** This preset was trained by `aufera reproduce --seed 0` on aufera's "
    "synthetic multi-view corpus: faces rendered from two photographs with drawn action units. It is for trying "
    "the tools (`aufera predict`, `aufera export`, the examples), and its numbers above are measured on held-out "
    "synthetic subjects, not on real faces. Its AU outputs on real photographs are not meaningful today.",
)


def photograph_lines(detector) -> list[str]:
    """What the detector answers on the photographs that ship inside installed packages (one line each)."""
    from aufera.predict import read_image
    from aufera.synth.photos import PHOTOS

    lines = []
    for photo in PHOTOS:
        table = detector.predict_images([read_image(photo.path())])
        if not table["success"][0]:
            lines.append(f"- {photo.name} ({photo.package}): no face found.")
            continue
        present = [name for name in AU_NAMES if table[f"{name}_c"][0] == 1]
        probabilities = ", ".join(f"{name} {table[f'{name}_p'][0]:.2f}" for name in AU_NAMES)
        lines.append(
            f"- {photo.name} ({photo.package}'s sample photograph, {photo.licence}): present "
            f"{', '.join(present) or 'none'}; probabilities {probabilities}."
        )
    return lines


def build_demo_preset(run_dir, out_dir) -> Path:
    """Writes the demo preset from a run of `aufera reproduce --seed 0` (its `run` folder)."""
    from aufera.predict import AUDetector
    from aufera.pretrained import preset_from_run

    preset = preset_from_run(run_dir)
    preset.metadata["name"] = "aufera demo: He et al. 2019 cpu-small, Network1 + Network2 (synthetic faces)"
    lines = photograph_lines(AUDetector(preset))
    preset.metadata["notes"] = [
        *DEMO_NOTES,
        "What it answers on real photographs (the two face photographs the synthetic identities are built from; "
        "neither is a labelled AU example, so these show the outputs, not their accuracy). The astronaut photograph "
        "shows a smile, which a FACS coder would code as AU6 + AU12 at least; compare what the preset marks:\n\n"
        + "\n".join(lines),
        "Rebuild: `aufera reproduce --out OUT --seed 0`, then `python -m aufera.demo OUT/run aufera/assets/demo`.",
    ]
    preset.metadata.pop("run_config", None)
    return preset.save(out_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the demo preset from a run of `aufera reproduce --seed 0`.")
    parser.add_argument("run_dir", help="OUT/run of `aufera reproduce --out OUT --seed 0`")
    parser.add_argument("out_dir", help="the preset folder to write (new or empty)")
    args = parser.parse_args(argv)
    print(build_demo_preset(args.run_dir, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
