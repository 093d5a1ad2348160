"""Training configuration: a typed dataclass, named presets, YAML and `key=value` overrides.

A training run is described by one `TrainConfig`. It is chosen by name from
`TRAIN_PRESETS` (or read from a YAML file), overridden by `key=value` strings
(the command's trailing arguments), checked, and saved as `config.yaml` into
the run directory, so a run can always be traced to the exact settings that
made it (STYLE item 6).

Example:

```python
config = resolve_config("cpu-small", ["epochs_network1=3", "sampler=momu"])
save_config(config, "runs/demo")
load_config("runs/demo") == config  # True
```

References:
    He, Li, Bo, Yu 2019, Sec. 4.3 (Adam: alpha 1e-3, beta1 0.9, beta2 0.999,
    epsilon 1e-8; eq. 3 with lambda1 = lambda2 = 0.5).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path

import yaml

from aufera.files import atomic_write_text

CONFIG_FILE = "config.yaml"
SAMPLERS = ("random", "stratified", "momu")
LR_SCHEDULES = ("constant", "cosine")
MODEL_PRESETS = ("paper", "cpu-small")  # the names of `aufera.models.presets.PRESETS` (a contract)


@dataclasses.dataclass
class TrainConfig:
    """Everything `aufera.training.train` needs besides the data and the run directory.

    Args:
        preset: str. The training preset this config was built from (recorded;
            a YAML file may name it to start from that preset). Defaults to
            "cpu-small".
        model: str. Model preset of `aufera.models` ("paper" or "cpu-small").
            Defaults to "cpu-small".
        epochs_network1: int. Epochs of Network1. Defaults to 12.
        epochs_network2: int. Epochs of Network2 on the frozen backbone. Defaults to 5.
        batch_size: int. Training batch size (global, over all replicas). Defaults to 32.
        learning_rate: float. Adam alpha (paper: 1e-3). Defaults to 1e-3.
        lr_schedule: str. "constant" (the paper) or "cosine" (decays the
            learning rate to 0 over each stage's steps, a cosine). Defaults to
            "cosine".
        beta_1: float. Adam beta1 (paper: 0.9). Defaults to 0.9.
        beta_2: float. Adam beta2 (paper: 0.999). Defaults to 0.999.
        epsilon: float. Adam epsilon (paper: 1e-8). Defaults to 1e-8.
        lambda_au: float. Weight of the AU loss L1 in eq. (3) (paper: 0.5). Defaults to 0.5.
        lambda_view: float. Weight of the view loss L2 in eq. (3) (paper: 0.5). Defaults to 0.5.
        sampler: str. Batch plan of each epoch: "random", "stratified"
            (Chu et al. Alg. 1) or "momu" (Alg. 2). Defaults to "random".
        augment: bool. Light augmentation of training batches
            (`aufera.data.pipeline.Augmentation`). Defaults to True.
        augment_shift: int. Largest random shift in pixels. Defaults to 6.
        augment_brightness: float. Largest brightness change on the [0, 1]
            scale. Defaults to 0.15.
        augment_contrast: float. Largest relative contrast change, in [0, 1).
            Defaults to 0.4.
        seed: int. Seeds weight initialisation, batch plans (seed + epoch) and
            augmentation. Defaults to 0.
        mixed_precision: bool. mixed_float16 on GPU; ignored with a warning on
            CPU. Defaults to False.
        max_steps_per_epoch: int or None. Cut every epoch's plan to this many
            batches (smoke runs). Defaults to None (the whole plan).
        validation_split: str. Dataset split used to pick the best epoch.
            Defaults to "validation".
        validation_batch_size: int. Batch size of the validation predictions.
            Defaults to 64.
        validation_max_examples: int or None. Validate on this many evenly
            spaced validation frames (smoke runs). Defaults to None (all).
        data_dir: str or None. The prepared dataset used (filled in by
            `train`, recorded in `config.yaml`). Defaults to None.
    """

    preset: str = "cpu-small"
    model: str = "cpu-small"
    epochs_network1: int = 12
    epochs_network2: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    lambda_au: float = 0.5
    lambda_view: float = 0.5
    sampler: str = "random"
    augment: bool = True
    augment_shift: int = 6
    augment_brightness: float = 0.15
    augment_contrast: float = 0.4
    seed: int = 0
    mixed_precision: bool = False
    max_steps_per_epoch: int | None = None
    validation_split: str = "validation"
    validation_batch_size: int = 64
    validation_max_examples: int | None = None
    data_dir: str | None = None

    def __post_init__(self):
        if self.model not in MODEL_PRESETS:
            raise ValueError(f"`model` must be one of {MODEL_PRESETS}. Received: model={self.model!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}. Received: lr_schedule={self.lr_schedule!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {SAMPLERS}. Received: sampler={self.sampler!r}")
        for name in ("epochs_network1", "epochs_network2"):
            _check_int(self, name, minimum=0)
        for name in ("batch_size", "validation_batch_size"):
            _check_int(self, name, minimum=1)
        _check_int(self, "augment_shift", minimum=0)
        _check_int(self, "seed", minimum=0)
        for name in ("max_steps_per_epoch", "validation_max_examples"):
            if getattr(self, name) is not None:
                _check_int(self, name, minimum=1)
        for name in ("learning_rate", "epsilon"):
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"`{name}` must be positive. Received: {name}={getattr(self, name)!r}")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={getattr(self, name)!r}")
        for name in ("lambda_au", "lambda_view"):
            if not float(getattr(self, name)) >= 0.0:
                raise ValueError(f"`{name}` must be non-negative. Received: {name}={getattr(self, name)!r}")
        if not 0.0 <= float(self.augment_brightness) <= 1.0:
            raise ValueError(f"`augment_brightness` must be in [0, 1]. Received: {self.augment_brightness!r}")
        if not 0.0 <= float(self.augment_contrast) < 1.0:
            raise ValueError(f"`augment_contrast` must be in [0, 1). Received: {self.augment_contrast!r}")

    def to_dict(self) -> dict:
        """The config as a plain dict (YAML-ready)."""
        return dataclasses.asdict(self)


def _check_int(config: TrainConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")


# Named training presets, as data. Keys are `TrainConfig` fields; missing keys take the dataclass defaults.
# He et al. 2019 give the optimiser and the loss weights but neither the batch size, nor the number of
# epochs, nor any augmentation or sampling: the "paper" values of those are our choices (docs/training.md).
TRAIN_PRESETS: dict[str, dict] = {
    "cpu-small": {
        "model": "cpu-small",
        # Measured on the default synthetic corpus: with augmentation and the
        # cosine decay, validation mean F1 of Network1 levels off after about
        # 10-12 epochs of batch 32 (about 18 s an epoch on 2 CPU cores).
        "epochs_network1": 12,
        "epochs_network2": 5,
        "batch_size": 32,
        "lr_schedule": "cosine",
        "sampler": "random",
        "augment": True,
        "augment_shift": 6,
        "augment_brightness": 0.15,
        "augment_contrast": 0.4,
        "validation_batch_size": 64,
    },
    "paper": {
        "model": "paper",
        # Not in the paper: 64 frames per batch, a common choice for a 90M-weight network on one GPU;
        # FERA 2017 has 1.33M training frames, i.e. about 20,700 steps per epoch.
        "batch_size": 64,
        "epochs_network1": 10,
        "epochs_network2": 5,
        # The paper trains with a constant learning rate, samples at random and mentions no augmentation.
        "lr_schedule": "constant",
        "sampler": "random",
        "augment": False,
        "validation_batch_size": 256,
    },
}


def train_preset_names() -> tuple[str, ...]:
    """The names of the training presets."""
    return tuple(TRAIN_PRESETS)


def _field_types() -> dict[str, object]:
    return typing.get_type_hints(TrainConfig)


def _parse_value(key: str, text: str, kind) -> object:
    """Converts the string `text` to the type `kind` of field `key` (int, float, bool, str, or X | None)."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if text.strip().lower() in ("none", "null", "~", ""):
            return None
        kind = next(a for a in args if a is not type(None))
    text = text.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        if kind is int:
            value = float(text)
            if value != int(value):
                raise ValueError(text)
            return int(value)
        if kind is float:
            return float(text)
    except ValueError:
        raise ValueError(f"Override `{key}` expects {kind.__name__}. Received: {key}={text!r}") from None
    return text


def _coerce(key: str, value, kind) -> object:
    """Coerces a YAML value to the field type (YAML reads 1e-3 as a string, 3 for a float as an int)."""
    if value is None or isinstance(value, str):
        return _parse_value(key, "null" if value is None else value, kind)
    return _parse_value(key, str(value), kind)


def _check_keys(keys, where: str) -> None:
    known = set(_field_types())
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"Unknown config key {unknown[0]!r} in {where}. Known keys: {sorted(known)}")


def parse_overrides(overrides) -> dict:
    """Parses `key=value` strings into typed values.

    Args:
        overrides: iterable of str, each "key=value" with key a `TrainConfig` field.

    Returns:
        A dict of field name -> value converted to the field's type.

    Raises:
        ValueError: naming the string, when it has no "=", names an unknown
            key, or has a value of the wrong type.
    """
    kinds = _field_types()
    parsed = {}
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"Overrides must be key=value. Received: {item!r}")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        _check_keys([key], f"override {item!r}")
        parsed[key] = _parse_value(key, text, kinds[key])
    return parsed


def resolve_config(preset_or_yaml: str, overrides=()) -> TrainConfig:
    """Resolves a training preset name or YAML file plus `key=value` overrides into a checked `TrainConfig`.

    A YAML file is a mapping of `TrainConfig` fields; its optional `preset`
    key names the training preset it starts from (default "cpu-small"), so
    a `config.yaml` saved in a run directory resolves to the same config.

    Args:
        preset_or_yaml: str or Path. A name in `TRAIN_PRESETS` or the path of
            a YAML file.
        overrides: iterable of str. "key=value" strings applied last.

    Returns:
        A `TrainConfig`.

    Raises:
        ValueError: on an unknown preset or missing file, an unknown key
            (named), a value of the wrong type, or a value out of range.

    Examples:

    ```python
    resolve_config("paper", ["batch_size=32", "max_steps_per_epoch=none"])
    resolve_config("runs/demo/config.yaml")
    ```
    """
    kinds = _field_types()
    name = str(preset_or_yaml)
    if name in TRAIN_PRESETS:
        values = {"preset": name, **copy.deepcopy(TRAIN_PRESETS[name])}
    elif name.endswith((".yaml", ".yml")) or Path(name).is_file():
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"{path}: no such config file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config file must be a mapping of keys to values")
        _check_keys(data, str(path))
        base = data.get("preset", "cpu-small")
        if base not in TRAIN_PRESETS:
            raise ValueError(f"{path}: unknown preset {base!r}. Available presets: {sorted(TRAIN_PRESETS)}")
        values = {"preset": base, **copy.deepcopy(TRAIN_PRESETS[base])}
        values.update({key: _coerce(key, value, kinds[key]) for key, value in data.items()})
    else:
        raise ValueError(
            f"Not a training preset or a YAML file. Available presets: {sorted(TRAIN_PRESETS)}. "
            f"Received: {preset_or_yaml!r}"
        )
    values.update(parse_overrides(overrides))
    return TrainConfig(**values)


def save_config(config: TrainConfig, run_dir) -> Path:
    """Writes `config.yaml` into `run_dir` atomically (a temporary file renamed into place).

    Args:
        config: TrainConfig.
        run_dir: str or Path. Created if missing.

    Returns:
        The path of the written file.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / CONFIG_FILE
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    return atomic_write_text(target, text)


def load_config(run_dir) -> TrainConfig:
    """Reads `config.yaml` from a run directory.

    Args:
        run_dir: str or Path. A run directory (or the config file itself).

    Returns:
        A `TrainConfig`.

    Raises:
        ValueError: when the file is missing or invalid.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / CONFIG_FILE
    return resolve_config(str(path))
