"""Presets with weights (`aufera.pretrained`): the layout, the hashes, the handles, the demo preset."""

import functools
import http.server
import json
import shutil
import tarfile
import threading

import numpy as np
import pytest

from aufera.errors import AuferaError
from aufera.filenames import PRESET_METADATA_FILE, PRESET_WEIGHTS_FILE


@pytest.fixture(scope="module")
def demo():
    from aufera.pretrained import load_preset

    return load_preset("demo")


@pytest.fixture(scope="module")
def small_preset(tmp_path_factory):
    """The cpu-small architecture (random weights) with a non-zero mean image, saved once."""
    import dataclasses

    from aufera.pretrained import load_preset

    preset = load_preset("cpu-small")
    mean = np.random.RandomState(3).uniform(60, 190, preset.mean_image.shape).astype(np.float32)
    preset = dataclasses.replace(preset, mean_image=mean)
    path = tmp_path_factory.mktemp("presets") / "small"
    preset.save(path)
    return preset, path


def crops(n, shape, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, *shape)).astype(np.uint8)


def test_preset_layout_and_hashes(small_preset):
    from aufera.files import sha256_file
    from aufera.pretrained import HASHED_FILES

    _, path = small_preset
    names = sorted(p.name for p in path.iterdir())
    assert names == sorted([*HASHED_FILES, PRESET_METADATA_FILE])
    meta = json.loads((path / PRESET_METADATA_FILE).read_text())
    import hashlib

    for name in HASHED_FILES:
        # an independent hash of the bytes
        assert meta["files"][name] == hashlib.sha256((path / name).read_bytes()).hexdigest() == sha256_file(path / name)
    assert meta["parameters"] == 423_981 + 437_796  # Network1 + Network2 with its own copy of the backbone
    assert set(meta["versions"]) == {"aufera", "keras", "tensorflow"}
    assert json.loads((path / "preprocessing.json").read_text())["image_size"] == 132


def test_saved_preset_gives_the_same_outputs(small_preset):
    from aufera.pretrained import load_preset

    preset, path = small_preset
    loaded = load_preset(path)
    x = crops(5, preset.crop_shape)
    a, b = preset.serving_model()(x), loaded.serving_model()(x)
    assert set(a) == set(b) == {"au_present", "au_decision", "view"}
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
    np.testing.assert_array_equal(loaded.mean_image, preset.mean_image)


def test_normalisation_inside_equals_the_training_pipeline(small_preset):
    """The serving model's normalisation is bit for bit that of training's transform (make_transform)."""
    from aufera.data.pipeline import make_transform

    preset, _ = small_preset
    x = crops(4, preset.crop_shape, seed=1)
    transform = make_transform(preset.mean_image, "network2", None, preset.preprocessing.scale)
    expected, _ = transform({"image": x, "au": np.zeros((4, 10)), "view": np.zeros(4)})
    outputs = preset.model(np.asarray(expected))
    served = preset.serving_model()(x)
    for key in outputs:
        np.testing.assert_array_equal(np.asarray(outputs[key]), np.asarray(served[key]))
    # and by hand: x / 255 - mean / 255
    layer = preset.serving_model().get_layer("face_normalization")
    np.testing.assert_allclose(np.asarray(layer(x)), x / 255.0 - preset.mean_image / 255.0, atol=1e-6)


def test_centre_crop_of_larger_faces():
    """A preset that takes 170 crops of 200-px faces (DRML) cuts the centre, as evaluation does."""
    from aufera.models.detector import FaceNormalization

    mean = np.random.RandomState(0).uniform(0, 255, (200, 200, 1)).astype(np.float32)
    x = crops(2, (200, 200, 1))
    out = np.asarray(FaceNormalization(mean, 1 / 255.0, 170)(x))
    full = x / np.float32(255.0) - mean / np.float32(255.0)
    np.testing.assert_allclose(out, full[:, 15:185, 15:185], atol=1e-6)


def test_fused_decision_is_eq5_of_the_two_networks(demo):
    """The demo's decision equals eq. (5) computed in numpy from its own Network1 and Network2."""
    from aufera.models import Network1, Network2
    from aufera.models.decision_fusion import decision_fusion, fused_present

    x = crops(6, demo.crop_shape, seed=2)
    normalised = x / np.float32(255.0) - demo.mean_image / np.float32(255.0)
    pairs = [np.asarray(demo.component(cls)(normalised)["au"]) for cls in (Network1, Network2)]
    weights = demo.model.get_layer("decision_fusion").fusion_weights
    out = demo.serving_model()(x)
    np.testing.assert_array_equal(np.asarray(out["au_decision"]), decision_fusion(pairs, weights))
    np.testing.assert_allclose(np.asarray(out["au_present"]), fused_present(pairs, weights), atol=1e-6)


def test_demo_preset_hashes_and_card(demo):
    from aufera.pretrained import check_preset_files, demo_preset_dir

    meta = check_preset_files(demo_preset_dir())
    assert meta["synthetic"] is True
    card = (demo_preset_dir() / "README.md").read_text()
    assert "Trained on synthetic faces" in card and "not on real faces" in card
    assert meta["metrics"]["models"]["fusion"]["f1"] > meta["metrics"]["always_present_f1"]


def test_demo_beats_always_present_on_a_new_synthetic_clip(demo, tmp_path):
    """The demo preset on videos `aufera synth` writes with new subjects: mean F1 above always answering present."""
    from aufera.data.fera2017 import find_sessions, read_labels
    from aufera.layout import VALIDATION
    from aufera.metrics import f1_per_au
    from aufera.predict import AU_NAMES, AUDetector
    from aufera.synth.config import SynthConfig
    from aufera.synth.writer import write_corpus

    write_corpus(tmp_path, SynthConfig(train_subjects=1, valid_subjects=2, tasks=1, frames=20, seed=11), progress=False)
    sessions, _ = find_sessions(tmp_path)
    detector = AUDetector(demo)
    labels, decisions = [], []
    for session in (s for s in sessions if s.split == VALIDATION):
        frames, session_labels, _ = read_labels(session.label_path)
        for view in (1, 5, 9):
            table = detector.predict_video(session.videos[view])
            assert len(table["frame"]) == len(frames) == 20
            decisions.append(np.stack([table[f"{name}_c"] for name in AU_NAMES], 1))
            labels.append(session_labels)
    labels, decisions = np.concatenate(labels), np.concatenate(decisions)
    assert not np.isnan(decisions).any()  # the face was found in every frame
    model_f1 = np.nanmean(np.asarray(f1_per_au(labels, decisions.astype(np.int8)), float))
    always_f1 = np.nanmean(np.asarray(f1_per_au(labels, np.ones_like(labels, dtype=np.int8)), float))
    assert model_f1 > always_f1 + 0.1, (model_f1, always_f1)


def test_damaged_presets_are_named(small_preset, tmp_path):
    from aufera.pretrained import load_preset

    _, path = small_preset
    changed = tmp_path / "changed"
    shutil.copytree(path, changed)
    data = bytearray((changed / PRESET_WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (changed / PRESET_WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(AuferaError, match=r"model\.weights\.h5: SHA-256 does not match"):
        load_preset(changed)

    truncated = tmp_path / "truncated"
    shutil.copytree(path, truncated)
    weights = (truncated / PRESET_WEIGHTS_FILE).read_bytes()
    (truncated / PRESET_WEIGHTS_FILE).write_bytes(weights[: len(weights) // 3])
    with pytest.raises(AuferaError, match=r"model\.weights\.h5: SHA-256 does not match"):
        load_preset(truncated)

    missing = tmp_path / "missing"
    shutil.copytree(path, missing)
    (missing / "mean_image.npy").unlink()
    with pytest.raises(AuferaError, match=r"mean_image\.npy: missing from the preset"):
        load_preset(missing)

    with pytest.raises(AuferaError, match="no such preset folder"):
        load_preset(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuferaError, match="neither a preset"):
        load_preset(tmp_path / "empty")


def _rehashed_demo(folder, **replaced):
    """The demo preset copied into `folder` with files replaced (name with "." as "_"), its hashes rewritten."""
    import hashlib

    from aufera.pretrained import HASHED_FILES, demo_preset_dir

    shutil.copytree(demo_preset_dir(), folder)
    for name, data in replaced.items():
        (folder / name.replace("_json", ".json").replace("_npy", ".npy")).write_bytes(data)
    metadata = json.loads((folder / PRESET_METADATA_FILE).read_text())
    metadata["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in HASHED_FILES}
    (folder / PRESET_METADATA_FILE).write_text(json.dumps(metadata))
    return folder


# Findings of the property-based fuzzing (tests/test_fuzz.py): files whose SHA-256 matches but whose content is
# not what a preset holds. Each was a traceback, or an error naming another file; now one AuferaError naming it.
@pytest.mark.parametrize(
    "file, data, message",
    [
        # Was AttributeError ('str' object has no attribute 'pop').
        ("preprocessing_json", b'"132"', r"preprocessing\.json: unreadable preprocessing \(TypeError: expected a JSON"),
        # Was ValueError from int("abc") where the shapes are compared, outside any check.
        (
            "preprocessing_json",
            b'{"image_size": "abc", "channels": 1, "scale": 0.5, "mean": "train", "face": {}}',
            r"preprocessing\.json: unreadable preprocessing \(ValueError: `image_size` must be a whole number",
        ),
        # Was accepted: `aufera predict` then failed with a traceback building FaceConfig from it.
        (
            "preprocessing_json",
            b'{"image_size": 132, "channels": 1, "scale": 0.5, "mean": "train", "face": {"tracking": "x"}}',
            r"preprocessing\.json: unreadable preprocessing \(ValueError: tracking must be one of",
        ),
        ("mean_image_npy", b"", r"mean_image\.npy: unreadable mean image \(EOFError"),  # was EOFError
        ("mean_image_npy", b"PK\x03\x04", r"mean_image\.npy: unreadable mean image \(BadZipFile"),  # was BadZipFile
        # Was "model.weights.h5: unreadable weights (AttributeError: 'dict' object has no attribute 'load_weights')".
        ("config_json", b"{}", r"config\.json: not the config of a Keras model \(it gives a dict\)"),
        ("config_json", b"null", r"config\.json: not the config of a Keras model \(it gives a NoneType\)"),
    ],
)
def test_preset_files_that_are_not_what_they_say_are_named(tmp_path, file, data, message):
    from aufera.pretrained import load_preset

    folder = _rehashed_demo(tmp_path / "preset", **{file: data})
    with pytest.raises(AuferaError, match=f"^{folder}/{message}"):
        load_preset(folder)


def test_preset_metadata_nested_too_deep_is_named(tmp_path):
    from aufera.pretrained import check_preset_files

    (tmp_path / PRESET_METADATA_FILE).write_text("[" * 100_000)  # was a RecursionError
    with pytest.raises(AuferaError, match=rf"^{tmp_path}/metadata\.json: unreadable preset metadata \(RecursionError"):
        check_preset_files(tmp_path)


def test_preprocessing_checks_every_field():
    from aufera.preprocessing import Preprocessing

    good = {"image_size": 132, "channels": 1, "scale": 1 / 255, "mean": "train"}
    assert Preprocessing(**good).dataset_shape == (132, 132, 1)
    assert Preprocessing(**{**good, "dataset_size": np.int64(200)}).dataset_shape == (200, 200, 1)
    for field, value in [
        ("image_size", "abc"),
        ("image_size", 0),
        ("channels", 1.5),
        ("channels", True),
        ("dataset_size", "200"),
        ("scale", float("inf")),
        ("scale", "0.5"),
        ("scale", 0),
    ]:
        with pytest.raises(ValueError, match=f"`{field}` must be .*Received: {field}="):
            Preprocessing(**{**good, field: value})


def test_save_refuses_a_folder_with_content(small_preset, tmp_path):
    preset, _ = small_preset
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(AuferaError, match="exists and is not an empty folder"):
        preset.save(tmp_path / "taken")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written left


def test_from_preset_gives_the_trained_models(demo):
    from aufera.models import DRML, Network1, Network2

    network1 = Network1.from_preset("demo")
    for a, b in zip(network1.get_weights(), demo.component(Network1).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(Network2.from_preset("demo"), Network2)
    with pytest.raises(AuferaError, match="holds no DRML"):
        DRML.from_preset("demo")
    with pytest.raises(ValueError, match="trained preset"):
        Network1.from_preset("demo", fc1_units=8)
    assert Network1.from_preset("cpu-small").count_params() == 423_981  # untrained architecture as before


@pytest.fixture()
def preset_server(small_preset, tmp_path):
    """A preset archive served over HTTP on 127.0.0.1 (a port the system chooses)."""
    _, path = small_preset
    root = tmp_path / "www"
    root.mkdir()
    archive = root / "small.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(path, arcname="small")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import hashlib

    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    yield f"http://127.0.0.1:{server.server_address[1]}", digest
    server.shutdown()


def test_url_presets(small_preset, preset_server, tmp_path):
    from aufera.pretrained import load_preset

    preset, _ = small_preset
    base, digest = preset_server
    loaded = load_preset(f"{base}/small.tar.gz#sha256={digest}", cache_dir=tmp_path / "cache")
    x = crops(3, preset.crop_shape)
    np.testing.assert_array_equal(
        np.asarray(loaded.serving_model()(x)["au_present"]), np.asarray(preset.serving_model()(x)["au_present"])
    )
    # downloaded once: the second load reads the cache
    cached = list((tmp_path / "cache" / "aufera_presets").iterdir())
    assert cached and load_preset(f"{base}/small.tar.gz#sha256={digest}", cache_dir=tmp_path / "cache")

    with pytest.raises(AuferaError, match="give the archive's SHA-256"):
        load_preset(f"{base}/small.tar.gz", cache_dir=tmp_path / "cache2")
    with pytest.raises(AuferaError, match=r"missing\.tar\.gz: cannot download the preset.*404"):
        load_preset(f"{base}/missing.tar.gz#sha256={'0' * 64}", cache_dir=tmp_path / "cache3")
    with pytest.raises(AuferaError, match="cannot download the preset"):
        load_preset(f"{base}/small.tar.gz#sha256={'1' * 64}", cache_dir=tmp_path / "cache4")


def test_hf_handle_without_the_extra_is_one_error():
    import importlib.util

    from aufera.pretrained import load_preset

    if importlib.util.find_spec("huggingface_hub") is not None:
        pytest.skip("huggingface_hub is installed here; this checks the message without it")
    with pytest.raises(AuferaError, match=r"hf://owner/name: hf:// presets need huggingface_hub"):
        load_preset("hf://owner/name")


@pytest.fixture(scope="module")
def run_directory(tiny_dataset, tmp_path_factory):
    """A run directory as `aufera train` leaves it (config naming the tiny dataset; cpu-small models, untrained)."""
    import dataclasses

    from aufera.config import resolve_config, save_config
    from aufera.filenames import model_file
    from aufera.models import Network1, Network2

    path = tmp_path_factory.mktemp("run")
    save_config(dataclasses.replace(resolve_config("cpu-small", []), data_dir=str(tiny_dataset)), path)
    network1 = Network1.from_preset("cpu-small")
    network1.save(path / model_file("network1"))
    Network2.from_preset("cpu-small", backbone=network1.backbone).save(path / model_file("network2"))
    return path


def test_preset_from_a_run_directory(run_directory):
    """A run directory is a handle: its Network1 + Network2 fused, the mean image of its dataset."""
    trained_tiny_run = run_directory
    from aufera.data.pipeline import load_dataset_info
    from aufera.evaluation.run import resolve_data_dir
    from aufera.models import Network1
    from aufera.pretrained import load_preset

    preset = load_preset(trained_tiny_run)
    info = load_dataset_info(resolve_data_dir(trained_tiny_run))
    np.testing.assert_array_equal(preset.mean_image, info.mean)
    import keras

    network1 = keras.saving.load_model(trained_tiny_run / "network1.keras", compile=False)
    for a, b in zip(preset.component(Network1).get_weights(), network1.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
