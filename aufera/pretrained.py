"""Model presets with weights: a trained AU detector as a folder, and the handles that find one.

A preset is a folder in keras-hub's layout:

- `config.json`: the Keras config of the detector (`aufera.models.detector.au_detector`:
  the registered classes and their configs; a fused Network1 + Network2 with
  its eq. (5) weights is one model);
- `model.weights.h5`: its weights (`keras.Model.save_weights`);
- `preprocessing.json`: the input contract (`aufera.preprocessing.Preprocessing`:
  image size, channels, scale, mean, dataset size) and `face`, how faces are
  found and cropped (`aufera.data.faces.FaceConfig`);
- `mean_image.npy`: the training mean image, pixel values 0-255, of the
  crops' size;
- `metadata.json`: aufera, Keras and TensorFlow versions, the parameter
  count, the date, what it was trained on, its evaluated metrics and the
  SHA-256 of every other file;
- `README.md`: the model card, with those numbers.

`load_preset(handle)` takes:

- `"demo"`: the small demo preset inside the package (cpu-small Network1 +
  Network2 trained on the synthetic corpus);
- a built-in architecture, `"paper"`, `"cpu-small"` (He et al.) or
  `"drml/paper"`, `"drml/cpu-small"`: random weights and a zero mean image,
  for shapes and speed only;
- a local preset folder, or a run directory of `aufera train` (its models as
  they are, the mean image of its dataset);
- `https://.../name.tar.gz#sha256=HEX` (or `http://`): a preset archive,
  downloaded once into the Keras cache with `keras.utils.get_file`, its
  SHA-256 checked;
- `hf://owner/name`: a Hugging Face Hub repository holding a preset (needs
  `huggingface_hub`: `pip install aufera[hf]`).

Every file is checked against its SHA-256 in `metadata.json` before any is
read; a mismatch, a missing file or an unreadable one is one `AuferaError`
naming the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np

from aufera.errors import AuferaError, WriteError
from aufera.filenames import (
    CONFIG_FILE,
    METRICS_FILE,
    PRESET_CARD_FILE,
    PRESET_CONFIG_FILE,
    PRESET_MEAN_FILE,
    PRESET_METADATA_FILE,
    PRESET_PREPROCESSING_FILE,
    PRESET_WEIGHTS_FILE,
    model_file,
)
from aufera.files import atomic_directory, atomic_write_weights, check_new_folder, sha256_file

DEMO_PRESET = "demo"
HASHED_FILES = (PRESET_CONFIG_FILE, PRESET_WEIGHTS_FILE, PRESET_PREPROCESSING_FILE, PRESET_MEAN_FILE, PRESET_CARD_FILE)
# Built-in architectures (random weights): handle -> (family, model preset).
ARCHITECTURES = {
    "paper": ("he2019", "paper"),
    "cpu-small": ("he2019", "cpu-small"),
    "he2019/paper": ("he2019", "paper"),
    "he2019/cpu-small": ("he2019", "cpu-small"),
    "drml/paper": ("drml", "paper"),
    "drml/cpu-small": ("drml", "cpu-small"),
}
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def demo_preset_dir() -> Path:
    """The folder of the demo preset shipped inside the package."""
    from importlib.resources import files

    return Path(str(files("aufera") / "assets" / "demo"))


@dataclasses.dataclass
class Preset:
    """A loaded preset: the detector, its input contract and what is known about it.

    Args:
        model: keras.Model. Normalised face crops -> `au_present`,
            `au_decision` (and `view`) (`aufera.models.detector.au_detector`).
        preprocessing: `aufera.preprocessing.Preprocessing`.
        mean_image: float32 array (H, W, C), pixel values 0-255, of the face crops' size.
        face: dict. `FaceConfig` settings: how faces are found and cropped.
        metadata: dict. What `metadata.json` holds (for a run or an
            architecture, what is known).
        source: str. The handle it was loaded from.
    """

    model: object
    preprocessing: object
    mean_image: np.ndarray
    face: dict
    metadata: dict
    source: str

    @property
    def crop_shape(self) -> tuple[int, int, int]:
        """The shape of the uint8 face crops the preset takes (before any centre crop)."""
        return tuple(int(d) for d in self.mean_image.shape)

    @property
    def is_sequence(self) -> bool:
        """True for a CNN-LSTM (Chu et al. 2019): it scores whole sequences of frames, not frames one by one."""
        from aufera.models.cnn_lstm import CNNLSTM

        return isinstance(self.model, CNNLSTM)

    @property
    def has_view(self) -> bool:
        return not self.is_sequence and "view" in self.model.output

    def normalization(self):
        """The `FaceNormalization` layer of this preset: uint8 crops -> the model's normalised input."""
        from aufera.models.detector import FaceNormalization

        pre = self.preprocessing
        return FaceNormalization(self.mean_image, float(pre.scale), pre.crop_size, name="face_normalization")

    def serving_model(self):
        """uint8 face crops (N, H, W, C) -> the detector's outputs, normalisation inside (`serving_model`).

        Raises:
            AuferaError: a sequence preset (the CNN-LSTM) has no per-frame serving model.
        """
        from aufera.models.detector import serving_model

        if self.is_sequence:
            raise AuferaError(
                f"preset {self.source}: a CNN-LSTM scores whole sequences of frames; it has no per-frame serving "
                "model (use aufera predict or aufera.predict.AUDetector on videos)"
            )
        pre = self.preprocessing
        return serving_model(self.model, self.mean_image, float(pre.scale), pre.crop_size)

    def component(self, cls):
        """The first model of class `cls` inside the detector (e.g. `Network1`), with its trained weights.

        Raises:
            AuferaError: the preset holds no model of that class.
        """
        for layer in self.model.layers:
            if isinstance(layer, cls):
                return layer
        held = sorted({type(layer).__name__ for layer in self.model.layers if hasattr(layer, "layers")})
        raise AuferaError(f"preset {self.source}: holds no {cls.__name__} (it holds {', '.join(held) or 'none'})")

    def save(self, directory, card: str | None = None, replace: bool = False):
        """Writes this preset as a folder (`save_preset`)."""
        return save_preset(
            directory, self.model, self.preprocessing, self.mean_image, self.face, self.metadata, card, replace
        )


# === Writing ===


def _parameter_count(model) -> int:
    return int(model.count_params())


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from aufera import __version__

    return {"aufera": __version__, "keras": keras.__version__, "tensorflow": tf.__version__}


def _mean_of(metrics: dict, model: str, metric: str):
    value = metrics.get(model, {}).get(metric, {})
    return value.get("mean") if isinstance(value, dict) else value


def model_card(metadata: dict) -> str:
    """The preset's `README.md`: what it is, what it was trained on, its measured numbers, its limits."""
    lines = [f"# {metadata.get('name', 'aufera preset')}", "", metadata.get("description", ""), ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| model | {metadata.get('model', '')} |",
        f"| parameters | {metadata.get('parameters', 0):,} |",
        f"| input | {metadata.get('input', '')} |",
        f"| trained on | {metadata.get('trained_on', 'unknown')} |",
        f"| created | {metadata.get('created', '')} |",
        f"| aufera / Keras / TensorFlow | {' / '.join(str(v) for v in metadata.get('versions', {}).values())} |",
        "",
    ]
    metrics = metadata.get("metrics") or {}
    if metrics:
        lines += [f"## Measured on {metrics.get('evaluated_on', 'held-out data')}", "", "| | mean F1 | mean AUC |"]
        lines += ["|---|---|---|"]
        for name, row in metrics.get("models", {}).items():
            f1, auc = row.get("f1"), row.get("auc")
            lines.append(f"| {name} | {'' if f1 is None else f'{f1:.3f}'} | {'' if auc is None else f'{auc:.3f}'} |")
        if metrics.get("view_accuracy") is not None:
            lines += ["", f"View accuracy: {metrics['view_accuracy']:.3f}."]
        if metrics.get("always_present_f1") is not None:
            lines += [f"Mean F1 of always answering present: {metrics['always_present_f1']:.3f}."]
        lines.append("")
    for note in metadata.get("notes", []):
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def save_preset(
    directory, model, preprocessing, mean_image, face: dict, metadata: dict, card: str | None = None, replace=False
):
    """Writes a preset folder (the module docstring's layout), all at once: it appears only when complete.

    Args:
        directory: str or Path. The folder to write; must not exist or be empty.
        model: keras.Model. A detector (`au_detector`).
        preprocessing: `Preprocessing`.
        mean_image: array (H, W, C), 0-255.
        face: dict. `FaceConfig` settings.
        metadata: dict. Descriptive entries (name, description, trained_on,
            metrics, notes, ...); versions, parameters, created and the file
            hashes are added here.
        card: str or None. The model card; None writes `model_card(metadata)`.
        replace: bool. Replace an existing preset folder (at once, when the
            new one is complete). Defaults to False: refuse a folder with content.

    Returns:
        The folder as a Path.

    Raises:
        WriteError: a file cannot be written (no space left), naming the
            folder; no folder is left (an existing one is kept).
    """
    import keras

    directory = Path(directory)
    if not replace:
        check_new_folder(directory)
    if directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
    mean_image = np.asarray(mean_image, np.float32)
    meta = dict(metadata)
    meta.setdefault("model", model.name)
    meta["parameters"] = _parameter_count(model)
    meta["input"] = f"{'x'.join(str(d) for d in mean_image.shape)} uint8 grayscale face crops" + (
        f", centre {preprocessing.crop_size} crop" if preprocessing.crop_size else ""
    )
    meta["versions"] = _versions()
    meta["created"] = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()

    def write(tmp: Path):
        (tmp / PRESET_CONFIG_FILE).write_text(json.dumps(keras.saving.serialize_keras_object(model), indent=1))
        atomic_write_weights(tmp / PRESET_WEIGHTS_FILE, model)  # model.save_weights crashes on a full disk
        pre = dataclasses.asdict(preprocessing)
        pre["face"] = dict(face)
        (tmp / PRESET_PREPROCESSING_FILE).write_text(json.dumps(pre, indent=1))
        mean_npy = io.BytesIO()
        np.save(mean_npy, mean_image)  # to memory: numpy writing a file does not say why a write failed
        (tmp / PRESET_MEAN_FILE).write_bytes(mean_npy.getvalue())
        (tmp / PRESET_CARD_FILE).write_text(card if card is not None else model_card(meta))
        meta["files"] = {name: sha256_file(tmp / name) for name in HASHED_FILES}
        (tmp / PRESET_METADATA_FILE).write_text(json.dumps(meta, indent=1))

    try:
        return atomic_directory(directory, write)
    except WriteError:
        raise  # no space left, a read-only folder: one line naming the folder (exit status 1), no folder left
    except OSError as error:
        raise AuferaError(f"{directory}: cannot write the preset ({error.strerror or error})") from None


# === Reading ===


def _first_line(error: BaseException) -> str:
    """An error's message up to its first line break (Keras's messages run over many lines)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def check_preset_files(directory) -> dict:
    """Reads `metadata.json` and checks every file it lists against its SHA-256; returns the metadata.

    Raises:
        AuferaError: one line naming the folder and the file: not a preset,
            a file missing, or a file whose hash does not match.
    """
    directory = Path(directory)
    meta_path = directory / PRESET_METADATA_FILE
    if not meta_path.is_file():
        raise AuferaError(f"{directory}: not an aufera preset (no {PRESET_METADATA_FILE})")
    try:
        metadata = json.loads(meta_path.read_text())
        files = dict(metadata["files"])
    except (ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: JSON nested too deep
        raise AuferaError(f"{meta_path}: unreadable preset metadata ({type(error).__name__}: {error})") from None
    for name in HASHED_FILES:
        path = directory / name
        if name not in files:
            raise AuferaError(f"{meta_path}: lists no SHA-256 for {name}")
        if not path.is_file():
            raise AuferaError(f"{path}: missing from the preset")
        if sha256_file(path) != files[name]:
            raise AuferaError(f"{path}: SHA-256 does not match {PRESET_METADATA_FILE} (the file is damaged or changed)")
    return metadata


def _read_preset_dir(directory, source: str) -> Preset:
    import keras

    import aufera.models  # noqa: F401  (registers the classes the config names)
    from aufera.data.faces.config import FaceConfig
    from aufera.preprocessing import Preprocessing

    directory = Path(directory)
    metadata = check_preset_files(directory)
    pre_path = directory / PRESET_PREPROCESSING_FILE
    try:
        pre = json.loads(pre_path.read_text())
        if not isinstance(pre, dict):
            raise TypeError(f"expected a JSON object, got {type(pre).__name__}")
        face = pre.pop("face")
        preprocessing = Preprocessing(**pre)
        FaceConfig(**face)  # checked here: `aufera predict` crops faces as it says
    except (ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: JSON nested too deep
        raise AuferaError(f"{pre_path}: unreadable preprocessing ({type(error).__name__}: {error})") from None
    mean_path = directory / PRESET_MEAN_FILE
    try:
        mean = np.load(mean_path).astype(np.float32)
    except Exception as error:  # numpy raises many kinds of error on a damaged file (EOFError, BadZipFile, ...)
        raise AuferaError(
            f"{mean_path}: unreadable mean image ({type(error).__name__}: {_first_line(error)})"
        ) from None
    if mean.shape != preprocessing.dataset_shape:
        raise AuferaError(f"{mean_path}: shape {mean.shape}, the preprocessing says {preprocessing.dataset_shape}")
    config_path = directory / PRESET_CONFIG_FILE
    try:
        model = keras.saving.deserialize_keras_object(json.loads(config_path.read_text()), safe_mode=True)
    except Exception as error:  # Keras raises many kinds of error on a bad config
        raise AuferaError(
            f"{config_path}: cannot build the model ({type(error).__name__}: {_first_line(error)})"
        ) from None
    if not isinstance(model, keras.Model):  # Keras returns plain JSON values ({}, null, 3) as they are
        raise AuferaError(f"{config_path}: not the config of a Keras model (it gives a {type(model).__name__})")
    weights_path = directory / PRESET_WEIGHTS_FILE
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(weights_path)
    except Exception as error:  # h5py and Keras raise many kinds of error on a damaged file
        raise AuferaError(
            f"{weights_path}: unreadable weights ({type(error).__name__}: {_first_line(error)})"
        ) from None
    # Keras warns, and goes on, when a saved group does not match a layer: that layer would keep random weights.
    skipped = [
        str(w.message) for w in caught if "Skipping" in str(w.message) or "freshly-initialized" in str(w.message)
    ]
    if skipped:
        raise AuferaError(f"{weights_path}: does not match {PRESET_CONFIG_FILE} ({skipped[0].splitlines()[0]})")
    return Preset(model, preprocessing, mean, face, metadata, source)


def _architecture(handle: str) -> Preset:
    from aufera.data.faces import FaceConfig
    from aufera.models import DRML, Network1, Network2
    from aufera.models.detector import au_detector
    from aufera.preprocessing import Preprocessing

    family, name = ARCHITECTURES[handle]
    preprocessing = Preprocessing.of_preset(name, family)
    if family == "he2019":
        network1 = Network1.from_preset(name)
        models = [network1, Network2.from_preset(name, backbone=network1.backbone)]
    else:
        models = [DRML.from_preset(name)]
    model = au_detector(models, name=f"{family}_{name}".replace("-", "_"))
    mean = np.zeros(preprocessing.dataset_shape, np.float32)
    face = FaceConfig(image_size=preprocessing.dataset_shape[0]).to_dict()
    metadata = {
        "name": f"{family} {name} (random weights)",
        "description": "An untrained architecture: random weights and a zero mean image, for shapes and speed only.",
        "trained_on": "nothing",
    }
    return Preset(model, preprocessing, mean, face, metadata, handle)


def _run_metrics(run_dir: Path) -> dict | None:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except ValueError:
        return None
    models = {}
    for name in ("fusion", "network1", "network2", "drml"):
        if name in metrics and isinstance(metrics[name], dict) and "f1" in metrics[name]:
            models[name] = {"f1": _mean_of(metrics, name, "f1"), "auc": _mean_of(metrics, name, "auc")}
    chu = metrics.get("chu2019")
    if isinstance(chu, dict):  # the CNN, the LSTMs and their fusion, on whole held-out videos
        for name in ("fusion", "cnn", "lstm"):
            if isinstance(chu.get(name), dict):
                models[f"CNN-LSTM {name}"] = {"f1": _mean_of(chu, name, "f1"), "auc": _mean_of(chu, name, "auc")}
    return {
        "evaluated_on": f"the {metrics.get('split', 'validation')} split of the run's dataset (held-out subjects)",
        "models": models,
        "view_accuracy": metrics.get("network1", {}).get("view_accuracy"),
        "always_present_f1": _mean_of(metrics, "reference", "always_present_f1"),
    }


def _frame_detector(run_dir: Path, family: str, preset_name: str, fusion_weights):
    """`(detector, metrics, fusion weights, description)` of a He et al. or DRML run (`au_detector`)."""
    from aufera.evaluation.run import load_models
    from aufera.models.detector import au_detector

    models = load_models(run_dir, family)
    metrics = _run_metrics(run_dir)
    if family == "he2019":
        if fusion_weights is None:
            try:
                fusion_weights = json.loads((run_dir / METRICS_FILE).read_text())["fusion"]["weights"]
            except (OSError, ValueError, KeyError, TypeError):
                fusion_weights = None
        members = [models["network1"], models["network2"]]
        description = "He et al. 2019: Network1 and Network2 fused by eq. (5)"
    else:
        fusion_weights = None
        members = [models[name] for name in models]
        description = f"{family}: {', '.join(models)}"
    try:
        model = au_detector(members, weights=fusion_weights, name=f"{family}_{preset_name}".replace("-", "_"))
    except ValueError as error:
        raise AuferaError(f"{run_dir}: {error}") from None
    return model, metrics, fusion_weights, description


def _whole_cnn_lstm(run_dir: Path):
    """The whole CNN-LSTM of a Chu et al. run (`cnn_lstm.keras`), which its temporal stages assemble."""
    import keras

    import aufera.models  # noqa: F401  (registers the classes the file names)

    path = run_dir / model_file("cnn_lstm")
    if not path.is_file():
        raise AuferaError(f"{path}: missing; a CNN-LSTM run makes a preset once its temporal stages are trained")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds of error on a damaged file
        raise AuferaError(f"{path}: unreadable model ({type(error).__name__}: {_first_line(error)})") from None


def preset_from_run(run_dir, fusion_weights=None) -> Preset:
    """The models of a trained run as one preset (in memory): Network1 + Network2 fused by eq. (5), DRML, or the
    whole CNN-LSTM of Chu et al. (a sequence preset, `Preset.is_sequence`).

    Args:
        run_dir: str or Path. A run directory of `aufera train`.
        fusion_weights: floats or None. Eq. (5)'s weights for Network1 and
            Network2. Defaults to the run's evaluated fusion weights, or equal.

    Raises:
        AuferaError: not a run directory, a model missing or unreadable, or
            the run's dataset gone (its mean image is needed).
    """
    from aufera.data.faces import FaceConfig
    from aufera.data.pipeline import load_dataset_info
    from aufera.evaluation.run import resolve_data_dir, resolve_synthetic, run_family, run_preprocessing
    from aufera.filenames import PREPARE_REPORT_JSON

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() and not (run_dir / model_file("network1")).is_file():
        raise AuferaError(f"{run_dir}: not a run directory of aufera train (no {CONFIG_FILE})")
    family, config = run_family(run_dir)
    preset_name, preprocessing = run_preprocessing(run_dir)
    if preprocessing is None:
        from aufera.preprocessing import Preprocessing

        preset_name, preprocessing = "cpu-small", Preprocessing.of_preset("cpu-small")
    if family == "chu2019":
        model, metrics = _whole_cnn_lstm(run_dir), _run_metrics(run_dir)
        description, fusion_weights = "Chu et al. 2019: spatial CNN, PCA, stacked LSTMs and fusion network", None
    else:
        model, metrics, fusion_weights, description = _frame_detector(run_dir, family, preset_name, fusion_weights)
    data_dir = resolve_data_dir(run_dir, None)
    info = load_dataset_info(data_dir)
    preprocessing.check_dataset(info.image_shape, data_dir, preset_name)
    face = FaceConfig(image_size=int(info.image_shape[0])).to_dict()
    report = Path(data_dir) / PREPARE_REPORT_JSON
    if report.is_file():
        try:
            face.update(json.loads(report.read_text())["face"])
        except (ValueError, KeyError, TypeError):
            pass
    synthetic = resolve_synthetic(data_dir, None)
    trained_on = "the synthetic corpus of aufera" if synthetic else "FERA 2017" if synthetic is False else str(data_dir)
    if info.subjects:
        trained_on += (
            f" ({len(info.subjects.get('train', []))} training subjects, {info.num_examples.get('train')} frames)"
        )
    metadata = {
        "name": f"{family} {preset_name}",
        "description": description + (f", fusion weights {list(fusion_weights)}" if fusion_weights else ""),
        "family": family,
        "model_preset": preset_name,
        "trained_on": trained_on,
        "synthetic": synthetic,
        "metrics": metrics,
        "run_config": config.to_dict() if config is not None else None,
    }
    return Preset(model, preprocessing, info.mean, face, metadata, str(run_dir))


def write_run_preset(run_dir) -> Path | None:
    """Writes (or rewrites) `RUN_DIR/preset`, the run's trained models as one preset (`preset_from_run`).

    `aufera train` calls it when a He et al. or DRML run is complete, and
    `aufera evaluate` again, so that the card carries the evaluated metrics.

    Returns:
        The preset folder, or None when the run has not trained all its
        models yet (e.g. `epochs_network2=0`).
    """
    from aufera.config import FAMILY_STAGES
    from aufera.evaluation.run import run_family
    from aufera.filenames import RUN_PRESET_DIR

    run_dir = Path(run_dir)
    family, _ = run_family(run_dir)
    stages = FAMILY_STAGES[family] + (("cnn_lstm",) if family == "chu2019" else ())
    if not all((run_dir / model_file(stage)).is_file() for stage in stages):
        return None
    return preset_from_run(run_dir).save(run_dir / RUN_PRESET_DIR, replace=True)


# === Handles ===


def _is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() or (path / model_file("network1")).is_file()


def _download(url: str, cache_dir=None) -> Path:
    import keras

    address, _, fragment = url.partition("#")
    digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
    if not _SHA256.match(digest):
        raise AuferaError(f"{url}: give the archive's SHA-256 after the address, as {address}#sha256=<64 hex digits>")
    name = address.rstrip("/").rsplit("/", 1)[-1] or "preset.tar.gz"
    if cache_dir is not None:
        try:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)  # Keras falls back to /tmp for a folder it lacks
        except OSError as error:
            raise AuferaError(f"{cache_dir}: cannot create the cache folder ({error.strerror or error})") from None
    try:
        path = keras.utils.get_file(
            fname=f"{digest[:12]}-{name}",
            origin=address,
            file_hash=digest,
            hash_algorithm="sha256",
            extract=True,
            cache_subdir="aufera_presets",
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception as error:  # urllib and Keras raise many kinds of error
        reason = getattr(error, "reason", None) or getattr(error, "msg", None) or error
        raise AuferaError(f"{address}: cannot download the preset ({type(error).__name__}: {reason})") from None
    return _unwrap(Path(path), address)


def _unwrap(path: Path, source: str) -> Path:
    """The preset folder inside an extracted archive (the folder itself, or its one subfolder holding the files)."""
    if (path / PRESET_METADATA_FILE).is_file():
        return path
    found = sorted(p.parent for p in path.glob(f"*/{PRESET_METADATA_FILE}"))
    if len(found) == 1:
        return found[0]
    raise AuferaError(f"{source}: the archive holds no preset ({PRESET_METADATA_FILE} not found)")


def _hugging_face(handle: str) -> Path:
    repo = handle[len("hf://") :].strip("/")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise AuferaError(f"{handle}: hf:// presets need huggingface_hub (pip install 'aufera[hf]')") from None
    try:
        return Path(snapshot_download(repo_id=repo))
    except Exception as error:  # the hub client raises many kinds of error
        raise AuferaError(f"{handle}: cannot fetch the preset ({type(error).__name__}: {_first_line(error)})") from None


def load_preset(handle=None, cache_dir=None) -> Preset:
    """A ready detector from a handle (see the module docstring); None is the demo preset.

    Args:
        handle: str, Path or None.
        cache_dir: str, Path or None. Where URL archives are kept; None is
            Keras's cache (`~/.keras`, or `KERAS_HOME`).

    Raises:
        AuferaError: one line naming the handle and what is wrong with it.

    Examples:

    ```python
    preset = load_preset("demo")
    outputs = preset.serving_model()(uint8_crops)  # au_present, au_decision, view
    ```
    """
    handle = DEMO_PRESET if handle is None else str(handle)
    if handle == DEMO_PRESET:
        directory = demo_preset_dir()
        if not (directory / PRESET_METADATA_FILE).is_file():
            raise AuferaError(f"{directory}: the demo preset is missing from this installation")
        return _read_preset_dir(directory, handle)
    if handle in ARCHITECTURES:
        return _architecture(handle)
    if handle.startswith(("http://", "https://")):
        return _read_preset_dir(_download(handle, cache_dir), handle)
    if handle.startswith("hf://"):
        return _read_preset_dir(_hugging_face(handle), handle)
    path = Path(handle).expanduser()
    if path.is_dir():
        if (path / PRESET_METADATA_FILE).is_file():
            return _read_preset_dir(path, handle)
        if _is_run_dir(path):
            return preset_from_run(path)
        raise AuferaError(
            f"{path}: neither a preset (no {PRESET_METADATA_FILE}) nor a run directory (no {CONFIG_FILE})"
        )
    if path.exists():
        raise AuferaError(f"{path}: a preset is a folder (or an archive URL with #sha256=...), not a file")
    names = ", ".join([DEMO_PRESET, *ARCHITECTURES])
    raise AuferaError(f"{handle}: no such preset folder, run directory or built-in name ({names})")


def trained_component(cls, handle, family: str, overrides: dict):
    """For `Model.from_preset(handle)`: None when `handle` is a built-in architecture of `family` (build it as
    before) or names nothing (the architecture's "Unknown preset" ValueError follows); otherwise the trained
    model of class `cls` inside the preset `handle` (`Preset.component`).

    Raises:
        ValueError: architecture overrides given with a trained preset.
        AuferaError: the handle names no preset, or the preset holds no `cls`.
    """
    from aufera.models.presets import preset_names

    text = str(handle)
    if text in preset_names(family):
        return None
    if text != DEMO_PRESET and not text.startswith(("http://", "https://", "hf://")) and not Path(text).exists():
        return None  # neither a built-in nor a trained preset: the architecture's "Unknown preset" error follows
    if overrides:
        raise ValueError(
            f"Overrides change an architecture; {handle!r} is a trained preset. Received: {sorted(overrides)}"
        )
    return load_preset(handle).component(cls)
