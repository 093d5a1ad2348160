"""Every saved aufera file loads in a fresh Python that imports only `keras` and `aufera.models`.

`aufera train` saves Network1 and Network2 compiled with
`aufera.losses.MultiLabelPairCrossentropy`; a `.keras` file names that class,
so `keras.saving.load_model` must find it registered after `import
aufera.models` alone. The models are saved here, then loaded in subprocesses
(a fresh interpreter, so nothing this test process imported helps), and the
numbers they give are compared with the originals.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from model_harness import TINY_BACKBONE

import aufera
from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.export import export_saved_model
from aufera.losses import network1_losses, network2_losses
from aufera.metrics import MeanF1OverAUs
from aufera.models import Network1, Network2, ResNetBackbone

NAMES = ("network1", "network2")

# Loads everything with nothing but keras and aufera.models imported.
LOAD_WITH_AUFERA_MODELS = """
import json, sys
import numpy as np
import keras
import aufera.models

root = sys.argv[1]
x, y_au, y_view = (np.load(f"{root}/{name}.npy") for name in ("x", "y_au", "y_view"))
arrays, info = {}, {}
for name in ("network1", "network2"):
    model = keras.saving.load_model(f"{root}/{name}.keras")  # compile=True, safe_mode=True
    for key, value in model(x, training=False).items():
        arrays[f"{name}_keras_{key}"] = keras.ops.convert_to_numpy(value)
    y = {"au": y_au, "view": y_view} if name == "network1" else {"au": y_au}
    info[name] = {
        "class": type(model).__name__,
        "losses": {key: type(loss).__name__ for key, loss in model.loss.items()},
        "optimizer_iterations": int(model.optimizer.iterations.numpy()),
        "evaluate": model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True),
    }
    with open(f"{root}/{name}.json") as stream:
        rebuilt = keras.saving.deserialize_keras_object(json.load(stream))
    rebuilt.load_weights(f"{root}/{name}.weights.h5")
    for key, value in rebuilt(x, training=False).items():
        arrays[f"{name}_h5_{key}"] = keras.ops.convert_to_numpy(value)
info["registered"] = sorted(k.split(">")[1] for k in keras.saving.get_custom_objects() if k.startswith("aufera>"))
np.savez(f"{root}/out_keras.npz", **arrays)
with open(f"{root}/info.json", "w") as stream:
    json.dump(info, stream)
"""

# Serves the SavedModel with TensorFlow alone.
SERVE_WITH_TENSORFLOW = """
import sys
import numpy as np
import tensorflow as tf

root = sys.argv[1]
served = tf.saved_model.load(f"{root}/served")
out = served.serve(tf.constant(np.load(f"{root}/x.npy")))
assert not [m for m in sys.modules if m == "aufera" or m.startswith("aufera.")], "aufera was imported"
np.savez(f"{root}/out_served.npz", **{key: value.numpy() for key, value in out.items()})
"""


def run_fresh_python(script: str, *args: str, cwd: Path) -> None:
    env = dict(os.environ)  # TF_CPP_MIN_LOG_LEVEL=2 from tests/conftest.py
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def registered_in_sources() -> set[str]:
    """Names of the classes decorated with `register_keras_serializable` in the aufera sources (read, not imported)."""
    names = set()
    for path in Path(aufera.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(decorator) for decorator in node.decorator_list
            ):
                names.add(node.name)
    return names


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Network1 and Network2 trained one step, compiled as `aufera train` does, saved four ways."""
    root = tmp_path_factory.mktemp("saved")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 32, 1)).astype("float32")
    y_au = rng.choice([-1.0, 0.0, 1.0], size=(4, NUM_AUS)).astype("float32")
    y_view = rng.integers(0, NUM_VIEWS, size=4).astype("int32")
    for name, value in (("x", x), ("y_au", y_au), ("y_view", y_view)):
        np.save(root / f"{name}.npy", value)

    expected, evaluated = {}, {}

    def save(name, model, y):
        model.save(root / f"{name}.keras")
        model.save_weights(root / f"{name}.weights.h5")
        (root / f"{name}.json").write_text(json.dumps(keras.saving.serialize_keras_object(model)))
        for key, value in model(x, training=False).items():
            expected[f"{name}_{key}"] = keras.ops.convert_to_numpy(value)
        evaluated[name] = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)

    # As `aufera train` does: Network1 is saved before a Network2 is built on its
    # backbone (which freezes that backbone), and Network2 gets the backbone of
    # the saved Network1.
    network1 = Network1(ResNetBackbone(**TINY_BACKBONE), fc1_units=16, fc2_units=8)
    network1.compile(optimizer="adam", metrics={"au": [MeanF1OverAUs()]}, **network1_losses())
    network1.fit(x, {"au": y_au, "view": y_view}, batch_size=4, epochs=1, verbose=0)
    save("network1", network1, {"au": y_au, "view": y_view})
    backbone = keras.saving.load_model(root / "network1.keras", compile=False).backbone
    network2 = Network2(backbone, fc1_units=12, fc2_units=6)
    network2.compile(optimizer="adam", metrics={"au": [MeanF1OverAUs()]}, **network2_losses())
    network2.fit(x, {"au": y_au}, batch_size=4, epochs=1, verbose=0)
    save("network2", network2, {"au": y_au})
    export_saved_model([network1, network2], root / "served", weights=[0.4, 0.6])
    return {"root": root, "expected": expected, "evaluated": evaluated}


def test_keras_files_load_after_importing_only_aufera_models(saved):
    root, expected = saved["root"], saved["expected"]
    run_fresh_python(LOAD_WITH_AUFERA_MODELS, str(root), cwd=root)
    info = json.loads((root / "info.json").read_text())
    got = np.load(root / "out_keras.npz")
    outputs = {"network1": ("au", "view"), "network2": ("au",)}
    assert set(got) == {f"{n}_{way}_{k}" for n in NAMES for way in ("keras", "h5") for k in outputs[n]}
    for key in got:
        name, _, output = key.split("_", 2)
        np.testing.assert_allclose(got[key], expected[f"{name}_{output}"], atol=1e-6, rtol=0, err_msg=key)
    assert info["network1"]["class"] == "Network1" and info["network2"]["class"] == "Network2"
    assert info["network1"]["losses"] == {"au": "MultiLabelPairCrossentropy", "view": "SparseCategoricalCrossentropy"}
    assert info["network2"]["losses"] == {"au": "MultiLabelPairCrossentropy"}
    for name in NAMES:
        assert info[name]["optimizer_iterations"] == 1  # the optimizer state came back too
        # The reloaded loss and metric give the numbers of the originals.
        parent, child = saved["evaluated"][name], info[name]["evaluate"]
        assert set(child) == set(parent) and any(key.endswith("mean_f1") for key in child)
        for key in parent:
            assert child[key] == pytest.approx(parent[key], abs=1e-6), key
    # Every class a saved aufera file can name is registered by `import aufera.models`.
    assert set(info["registered"]) == registered_in_sources()
    assert {"Network1", "MultiLabelPairCrossentropy", "MeanF1OverAUs"} <= set(info["registered"])


def test_saved_model_serves_without_aufera(saved):
    root, expected = saved["root"], saved["expected"]
    run_fresh_python(SERVE_WITH_TENSORFLOW, str(root), cwd=root)
    got = np.load(root / "out_served.npz")
    assert set(got) == {"au_present", "view", "fused_present", "fused_decision"}
    p1, p2 = expected["network1_au"], expected["network2_au"]
    np.testing.assert_allclose(got["au_present"], p1[..., 0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(got["view"], expected["network1_view"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(got["fused_present"], 0.4 * p1[..., 0] + 0.6 * p2[..., 0], atol=1e-6, rtol=0)
    margin = 0.4 * (p1[..., 0] - p1[..., 1]) + 0.6 * (p2[..., 0] - p2[..., 1])
    clear = np.abs(margin) > 1e-5
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(got["fused_decision"][clear], (margin > 0).astype("float32")[clear])


def test_importing_aufera_metrics_first_registers_everything(tmp_path):
    """`aufera.metrics` imports `aufera.models.decision_fusion`, so `aufera.models`, which imports it back."""
    script = (
        "import json, sys, keras, aufera.metrics\n"
        "names = sorted(k.split('>')[1] for k in keras.saving.get_custom_objects() if k.startswith('aufera>'))\n"
        "json.dump(names, open(sys.argv[1], 'w'))\n"
    )
    run_fresh_python(script, str(tmp_path / "names.json"), cwd=tmp_path)
    assert set(json.loads((tmp_path / "names.json").read_text())) == registered_in_sources()
