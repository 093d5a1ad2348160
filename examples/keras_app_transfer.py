"""A Keras app on a pretrained head: Network1's frozen backbone from a preset, a new head for a new target.

    1. `load_preset(HANDLE).component(Network1)`: the trained Network1 (the
       demo preset unless --model names another); its residual backbone is
       frozen (`trainable = False`, batch normalisation in inference mode);
    2. a new head in plain Keras on the backbone's features: a small MLP with
       one sigmoid for a target the preset was not trained for: a smile with
       cheek raise, AU6 and AU12 together (the "Duchenne" smile), from the
       FERA-layout labels;
    3. data: a small synthetic corpus (`aufera synth`'s `write_corpus`) and
       its face crops (`prepare`), normalised as the preset says (its own
       mean image: the backbone's input contract);
    4. training with Adam on the training subjects, then F1 on the held-out
       subjects beside always answering "present";
    5. the app as a preset of its own (`au_detector` + `save_preset`), reloaded
       with `load_preset`, its outputs checked equal.

    python examples/keras_app_transfer.py [--model HANDLE] [--out DIR] [--epochs N] [--seed S]

Bad input is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.commands import validators  # noqa: E402

PROG = "keras_app_transfer"
DEFAULT_OUT = "transfer_example"
SMALL_CORPUS = {"train_subjects": 6, "valid_subjects": 3, "tasks": 1, "frames": 20}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, metavar="HANDLE", help="preset handle (default: the demo preset)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--epochs", type=validators.positive_int, default=8, help="epochs of the new head (default 8)")
    parser.add_argument("--seed", type=validators.non_negative_int, default=5, help="corpus and training seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def smile_target(au):
    """1 where AU6 and AU12 are both present, 0 where either is absent, -1 where unknown (left out)."""
    import numpy as np

    from aufera.au import AU_KEYS

    a6, a12 = au[:, AU_KEYS.index("AU6")], au[:, AU_KEYS.index("AU12")]
    target = np.where((a6 == 1) & (a12 == 1), 1, np.where((a6 == -1) | (a12 == -1), 0, -1))
    return target.astype(np.int64)


def run(args) -> int:
    import keras
    import numpy as np

    from aufera.data.pipeline import load_split_arrays
    from aufera.data.prepare import prepare
    from aufera.models import Network1
    from aufera.models.detector import au_detector
    from aufera.pretrained import load_preset, save_preset
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    out = Path(args.out)
    preset = load_preset(args.model)
    network1 = preset.component(Network1)
    backbone = network1.backbone
    backbone.trainable = False
    print(f"preset: {preset.metadata.get('name')}; backbone {backbone.count_params():,} weights, frozen")

    # The data: a small synthetic corpus and its face crops, at the preset's crop size.
    corpus = out / "corpus"
    write_corpus(corpus, SynthConfig(seed=args.seed, **SMALL_CORPUS), progress=not args.quiet)
    report = prepare(corpus, out / "data", image_size=preset.crop_shape[0], progress=not args.quiet)

    def split(name):
        arrays = load_split_arrays(report["dataset"], name)
        x = (arrays.image.astype(np.float32) - preset.mean_image) / np.float32(255.0)  # the preset's contract
        y = smile_target(arrays.au)
        keep = y >= 0
        return x[keep], y[keep].astype(np.float32)

    x_train, y_train = split("train")
    x_val, y_val = split("validation")
    print(
        f"smile (AU6 + AU12): {int(y_train.sum())} of {len(y_train)} training frames, "
        f"{int(y_val.sum())} of {len(y_val)} held-out frames"
    )

    # The app: the frozen backbone, a new head.
    keras.utils.set_random_seed(args.seed)
    images = keras.Input(shape=backbone.input_shape[1:], name="images")
    features = keras.layers.Flatten(name="features")(backbone(images, training=False))
    hidden = keras.layers.Dense(64, activation="relu", name="smile_fc")(features)
    hidden = keras.layers.Dropout(0.3, name="smile_dropout")(hidden)
    smile = keras.layers.Dense(1, activation="sigmoid", name="au")(hidden)
    app = keras.Model(images, {"au": smile}, name="duchenne_smile")
    app.compile(optimizer=keras.optimizers.Adam(1e-3), loss={"au": "binary_crossentropy"})
    trainable = sum(int(np.prod(w.shape)) for w in app.trainable_weights)
    print(f"new head: {trainable:,} trainable weights")
    app.fit(x_train, {"au": y_train[:, None]}, epochs=args.epochs, batch_size=32, verbose=0 if args.quiet else 2)

    from aufera.metrics import f1_per_au

    predicted = (np.asarray(app.predict(x_val, verbose=0)["au"]) > 0.5).astype(np.int8)
    labels = np.where(y_val[:, None] > 0, 1, -1).astype(np.int8)
    f1 = float(f1_per_au(labels, predicted)[0])
    always = float(f1_per_au(labels, np.ones_like(predicted))[0])
    print(f"held-out F1 of the smile head: {f1:.3f} (always present: {always:.3f})")

    # The app as a preset of its own, reloaded.
    detector = au_detector(app, name="duchenne_smile")
    path = save_preset(
        out / "smile_preset",
        detector,
        preset.preprocessing,
        preset.mean_image,
        preset.face,
        {
            "name": "Duchenne smile (AU6 + AU12) on a pretrained Network1 backbone",
            "description": f"A new head on the frozen backbone of {preset.metadata.get('name')}.",
            "trained_on": f"a small synthetic corpus (seed {args.seed})",
            "metrics": {"evaluated_on": "held-out synthetic subjects", "models": {"smile": {"f1": f1}}},
        },
        replace=True,
    )
    reloaded = load_preset(path)
    crops = np.random.default_rng(0).integers(0, 256, (4, *preset.crop_shape), dtype=np.uint8)
    same = np.allclose(
        reloaded.serving_model()(crops)["au_present"],
        detector((crops.astype(np.float32) - preset.mean_image) / np.float32(255.0))["au_present"],
        atol=1e-6,
    )
    print(f"preset: {path} (reloaded, outputs {'equal' if same else 'DIFFERENT'})")
    return 0 if same else 1


def main(argv=None) -> int:
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
