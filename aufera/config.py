"""Training configuration: a nested dataclass, named presets, YAML and `key=value` overrides.

A training run is described by one `TrainConfig`, nested the way TF Model
Garden nests its experiment configs:

- `model`: which model preset to build and the loss weights of eq. (3);
- `optimizer`: Adam's settings and the learning-rate schedule;
- `augmentation`: an `aufera.data.augmentation.Augmentation`;
- `validation`: which split picks the best epoch, and how it is predicted;
- `runtime`: how the run uses the machine (precision);
- at the top: what the trainer loops over (epochs, batch size, sampler, seed).

Every field has one default, in its dataclass; the `cpu-small` training
preset is those defaults, and other presets name only what they change. A
config is chosen by name from `TRAIN_PRESETS` (or read from a YAML file of
the same nesting), overridden by `key=value` strings whose keys are dotted
paths (`epochs_network1=3`, `optimizer.learning_rate=1e-4`,
`augmentation.max_shift=0`), checked, and saved as `config.yaml` into the
run directory, so a run can always be traced to the exact settings that made
it (STYLE item 6).

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
import functools
import math
import types
import typing
from decimal import Decimal
from pathlib import Path

import yaml

from aufera.data.augmentation import Augmentation
from aufera.errors import AuferaError
from aufera.filenames import CONFIG_FILE
from aufera.files import atomic_write_text

SAMPLERS = ("random", "stratified", "momu")
LR_SCHEDULES = ("constant", "cosine")
# The model families and the names of their presets (`aufera.models.presets.FAMILIES`, a contract).
MODEL_FAMILIES = ("he2019", "drml", "chu2019")
# The stages (trained networks) of each family, in training order; each is saved as `<stage>.keras` in a run
# directory: He et al. 2019's Network1, then Network2 on its frozen backbone; DRML (or its ConvNet) in one stage;
# Chu et al. 2019's spatial CNN, then the LSTMs on its PCA-projected fc7, then the fusion network.
FAMILY_STAGES = {
    "he2019": ("network1", "network2"),
    "drml": ("drml",),
    "chu2019": ("chu_cnn", "chu_lstm", "chu_fusion"),
}
# The `epochs_<stage>` field of every stage.
EPOCH_FIELDS = tuple(f"epochs_{stage}" for stages in FAMILY_STAGES.values() for stage in stages)
OPTIMIZERS = ("adam", "sgd")
MODEL_PRESETS = ("paper", "cpu-small")
# An integer setting must fit in 64 bits (seeds, counts and sizes go to TensorFlow as int64).
INT_LIMIT = 2**63


def _check_int(owner, name: str, minimum: int) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")


@dataclasses.dataclass
class ModelConfig:
    """The model trained and its loss.

    Args:
        family: str. "he2019" (Network1, then Network2; He et al. 2019),
            "drml" (DRML or its ConvNet baseline; Zhao et al. 2016) or
            "chu2019" (the CNN-LSTM hybrid; Chu et al. 2019). Defaults to
            "he2019".
        preset: str. Model preset of that family in `aufera.models.presets`
            ("paper" or "cpu-small"). Defaults to "cpu-small".
        region_layer: bool. DRML only: with the region layer (DRML) or
            without (the ConvNet baseline). Defaults to True.
        grid: int or None. DRML only: cells per side of the region layer's
            square grid; it must divide the side of conv1's map (160 in the
            paper preset, 80 in cpu-small). None keeps the preset's (8,
            i.e. 8x8). Unused by the ConvNet baseline. Defaults to None.
        lambda_au: float. He et al.: weight of the AU loss L1 in eq. (3) (paper: 0.5). Defaults to 0.5.
        lambda_view: float. He et al.: weight of the view loss L2 in eq. (3) (paper: 0.5). Defaults to 0.5.
    """

    family: str = "he2019"
    preset: str = "cpu-small"
    region_layer: bool = True
    grid: int | None = None
    lambda_au: float = 0.5
    lambda_view: float = 0.5

    def __post_init__(self):
        if self.family not in MODEL_FAMILIES:
            raise ValueError(f"`model.family` must be one of {MODEL_FAMILIES}. Received: family={self.family!r}")
        if self.preset not in MODEL_PRESETS:
            raise ValueError(f"`model.preset` must be one of {MODEL_PRESETS}. Received: preset={self.preset!r}")
        if self.grid is not None:
            _check_int(self, "grid", minimum=1)
            if self.family != "drml":
                raise ValueError(f"`model.grid` is DRML's (model.family=drml). Received: family={self.family!r}")
        for name in ("lambda_au", "lambda_view"):
            if not float(getattr(self, name)) >= 0.0:
                raise ValueError(f"`{name}` must be non-negative. Received: {name}={getattr(self, name)!r}")


@dataclasses.dataclass
class OptimizerConfig:
    """The optimiser of the per-frame networks and its learning rate (He et al. 2019, Sec. 4.3: Adam).

    Args:
        name: str. "adam" (He et al.; every cpu-small config) or "sgd" (SGD
            with momentum and weight decay: Chu et al.'s CNN). Defaults to
            "adam".
        learning_rate: float. Adam alpha (paper: 1e-3). Defaults to 1e-3.
        lr_schedule: str. "constant" (the paper) or "cosine" (decays the
            learning rate to 0 over each stage's steps). Defaults to "cosine".
        beta_1: float. Adam beta1 (paper: 0.9). Defaults to 0.9.
        beta_2: float. Adam beta2 (paper: 0.999). Defaults to 0.999.
        epsilon: float. Adam epsilon (paper: 1e-8). Defaults to 1e-8.
        momentum: float. SGD's momentum (Chu et al.: 0.9). Defaults to 0.9.
        weight_decay: float. SGD's weight decay, an L2 penalty coefficient
            on every weight (Chu et al.: 5e-4). Defaults to 0.0.
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"`optimizer.name` must be one of {OPTIMIZERS}. Received: name={self.name!r}")
        if not 0.0 <= float(self.momentum) < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={self.momentum!r}")
        if not float(self.weight_decay) >= 0.0:
            raise ValueError(f"`weight_decay` must be non-negative. Received: weight_decay={self.weight_decay!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}. Received: lr_schedule={self.lr_schedule!r}")
        for name in ("learning_rate", "epsilon"):
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"`{name}` must be positive. Received: {name}={getattr(self, name)!r}")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={getattr(self, name)!r}")


@dataclasses.dataclass
class ValidationConfig:
    """The validation that picks each stage's best epoch.

    Args:
        split: str. Dataset split. Defaults to "validation".
        batch_size: int. Batch size of the validation predictions. Defaults to 64.
        max_examples: int or None. Validate on this many evenly spaced frames
            (smoke runs). Defaults to None (all).
    """

    split: str = "validation"
    batch_size: int = 64
    max_examples: int | None = None

    def __post_init__(self):
        _check_int(self, "batch_size", minimum=1)
        if self.max_examples is not None:
            _check_int(self, "max_examples", minimum=1)


@dataclasses.dataclass
class SequenceConfig:
    """The temporal stages of Chu et al. 2019 (the LSTMs and the fusion network), `model.family=chu2019` only.

    Args:
        length: int. Frames per training subsequence (the paper: 1,300, whole
            videos). Defaults to 100.
        per_video: int. Random subsequences drawn from each training video
            per epoch (the paper: 10). Defaults to 10.
        burn_in: int. The first frames of each training subsequence carry no
            loss (the paper: 10). Defaults to 10.
        min_active_aus: float or None. Training subsequences with fewer
            present AUs per frame on average are left out (the paper: 1.5);
            None keeps all. Defaults to 1.5.
        batch_size: int. Subsequences per LSTM batch (not in the paper).
            Defaults to 10.
        learning_rate: float. RMSProp's of the LSTMs (the paper: 1e-3).
            Defaults to 1e-3.
        rho: float. RMSProp's moving-average decay (the paper's "momentum of
            0.9"; docs/cnn_lstm.md). Defaults to 0.9.
        lr_decay: float. The LSTMs' learning rate is multiplied by this after
            every epoch (the paper's "weight decay 0.97"; docs/cnn_lstm.md).
            Defaults to 0.97.
        fusion_learning_rate: float. Adam's, for the fusion network (not in
            the paper). Defaults to 1e-3.
        fusion_batch_size: int. Frames per step of the fusion network, which
            works frame by frame (not in the paper). Defaults to 64.
        pca_components: int or None. Keep exactly this many PCA components
            of fc7 (at most the training frames and fc7's size); None keeps
            the fewest that hold the preset's share of the variance (98%),
            at most its `max_components` (1024). Defaults to None.
    """

    length: int = 100
    per_video: int = 10
    burn_in: int = 10
    min_active_aus: float | None = 1.5
    batch_size: int = 10
    learning_rate: float = 1e-3
    rho: float = 0.9
    lr_decay: float = 0.97
    fusion_learning_rate: float = 1e-3
    fusion_batch_size: int = 64
    pca_components: int | None = None

    def __post_init__(self):
        if self.pca_components is not None:
            _check_int(self, "pca_components", minimum=1)
        for name in ("length", "per_video", "batch_size", "fusion_batch_size"):
            _check_int(self, name, minimum=1)
        _check_int(self, "burn_in", minimum=0)
        if self.min_active_aus is not None and not float(self.min_active_aus) >= 0.0:
            raise ValueError(f"`min_active_aus` must be >= 0 or None. Received: min_active_aus={self.min_active_aus!r}")
        for name in ("learning_rate", "fusion_learning_rate"):
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"`{name}` must be positive. Received: {name}={getattr(self, name)!r}")
        for name in ("rho", "lr_decay"):
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                raise ValueError(f"`{name}` must be in (0, 1]. Received: {name}={getattr(self, name)!r}")


@dataclasses.dataclass
class RuntimeConfig:
    """How the run uses the machine.

    Args:
        mixed_precision: bool. mixed_float16 on GPU; ignored with a warning on
            CPU. Defaults to False.
        jit_compile: bool or None. Compile the training step with XLA; None
            leaves it to Keras ("auto": XLA on GPU only). Defaults to None.
            The DRML presets turn it on: on 2 CPU cores XLA trains DRML and
            ConvNet about 2x faster than graph mode (docs/benchmarks.md).
    """

    mixed_precision: bool = False
    jit_compile: bool | None = None


@dataclasses.dataclass
class TrainConfig:
    """Everything `aufera.training.train` needs besides the data and the run directory.

    Args:
        preset: str. The training preset this config was built from (recorded;
            a YAML file may name it to start from that preset). Defaults to
            "cpu-small".
        model: ModelConfig. The model preset and the loss weights.
        optimizer: OptimizerConfig. Adam and the learning-rate schedule.
        augmentation: Augmentation. Of the training batches; all zero is none.
        validation: ValidationConfig. How the best epoch is chosen.
        runtime: RuntimeConfig. Precision.
        sequence: SequenceConfig. The temporal stages of Chu et al. 2019.
        epochs_network1: int. Epochs of Network1. Defaults to 12 (measured on
            the default synthetic corpus: validation mean F1 of Network1
            levels off after about 10-12 epochs of batch 32).
        epochs_network2: int. Epochs of Network2 on the frozen backbone. Defaults to 5.
        epochs_drml: int. Epochs of DRML (or ConvNet), for the "drml" family. Defaults to 8.
        epochs_chu_cnn: int. Epochs of Chu et al.'s spatial CNN. Defaults to 6.
        epochs_chu_lstm: int. Epochs of the LSTMs; 0 trains the CNN only
            (the sampler comparison of Tables 3-4). Defaults to 30.
        epochs_chu_fusion: int. Epochs of the fusion network. Defaults to 30.
        batch_size: int. Training batch size (global, over all replicas). Defaults to 32.
        sampler: str. Batch plan of each epoch: "random", "stratified"
            (Chu et al. Alg. 1) or "momu" (Alg. 2). Defaults to "random".
        seed: int. Seeds weight initialisation, batch plans (seed + epoch) and
            augmentation. Defaults to 0.
        max_steps_per_epoch: int or None. Cut every epoch's plan to this many
            batches (smoke runs). Defaults to None (the whole plan).
        folds: int or None. Chu et al.'s subject-exclusive k-fold protocol
            (`model.family=chu2019`): the subjects of the dataset's training
            and validation splits are pooled and cut into `folds` partitions
            (`aufera.folds.subject_folds`, seeded by `seed`); the run trains
            on fold `fold`'s training subjects, picks its best epochs on its
            validation subjects and is evaluated on its test partition. The
            folds are written to the run directory (`folds.json`). None: the
            dataset's own splits. Defaults to None.
        fold: int. The fold trained, 0 to folds - 1. Defaults to 0.
        fold_validation_share: float. Share of a fold's training subjects
            held out for validation (the paper: about 20%). Defaults to 0.2.
        data_dir: str or None. The prepared dataset used (filled in by
            `train`, recorded in `config.yaml`). Defaults to None.
    """

    preset: str = "cpu-small"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    sequence: SequenceConfig = dataclasses.field(default_factory=SequenceConfig)
    epochs_network1: int = 12
    epochs_network2: int = 5
    epochs_drml: int = 8
    epochs_chu_cnn: int = 6
    epochs_chu_lstm: int = 30
    epochs_chu_fusion: int = 30
    batch_size: int = 32
    sampler: str = "random"
    seed: int = 0
    max_steps_per_epoch: int | None = None
    folds: int | None = None
    fold: int = 0
    fold_validation_share: float = 0.2
    data_dir: str | None = None

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {SAMPLERS}. Received: sampler={self.sampler!r}")
        for name in EPOCH_FIELDS:
            _check_int(self, name, minimum=0)
        _check_int(self, "batch_size", minimum=1)
        _check_int(self, "seed", minimum=0)
        if self.max_steps_per_epoch is not None:
            _check_int(self, "max_steps_per_epoch", minimum=1)
        _check_int(self, "fold", minimum=0)
        if self.folds is not None:
            _check_int(self, "folds", minimum=2)
            if self.model.family != "chu2019":
                raise ValueError(
                    f"`folds` is Chu et al.'s protocol (model.family=chu2019). Received: family={self.model.family!r}"
                )
            if self.fold >= self.folds:
                raise ValueError(f"`fold` must be from 0 to folds - 1 = {self.folds - 1}. Received: fold={self.fold}")
        if not 0.0 <= float(self.fold_validation_share) < 1.0:
            raise ValueError(
                f"`fold_validation_share` must be in [0, 1). Received: fold_validation_share={self.fold_validation_share!r}"
            )

    def to_dict(self) -> dict:
        """The config as a nested plain dict (YAML-ready)."""
        return dataclasses.asdict(self)

    def to_flat_dict(self) -> dict:
        """The config as a flat dict with dotted keys ("optimizer.learning_rate")."""
        return _flatten(self.to_dict())


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# Named training presets, as data: each names only what it changes from the `TrainConfig` defaults
# (which are the cpu-small preset). He et al. 2019 give the optimiser and the loss weights but neither the
# batch size, nor the number of epochs, nor any augmentation or sampling: the "paper" values of those are
# our choices (docs/training.md).
TRAIN_PRESETS: dict[str, dict] = {
    "cpu-small": {},
    "paper": {
        "model": {"preset": "paper"},
        # Not in the paper: 64 frames per batch, a common choice for a 90M-weight network on one GPU;
        # FERA 2017 has 1.33M training frames, i.e. about 20,700 steps per epoch.
        "batch_size": 64,
        "epochs_network1": 10,
        # The paper trains with a constant learning rate, samples at random and mentions no augmentation.
        "optimizer": {"lr_schedule": "constant"},
        "augmentation": {"max_shift": 0, "max_brightness": 0.0, "max_contrast": 0.0},
        "validation": {"batch_size": 256},
    },
}


# The families that take crops of the 200-px dataset (`aufera prepare --image-size 200`), DRML and Chu et al.'s
# CNN-LSTM, start from this: random crops and horizontal flips in training (as both papers train), the centre
# crop in evaluation; no shift, brightness or contrast changes; XLA (about 2x faster training on 2 CPU cores,
# docs/benchmarks.md). The flips also mirror the view label, which neither family uses.
def _crop_training(model: dict, **changes) -> dict:
    values = {
        "model": model,
        "augmentation": {"max_shift": 0, "max_brightness": 0.0, "max_contrast": 0.0, "flip": True},
        "runtime": {"jit_compile": True},
    }
    for key, value in changes.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return values


# DRML (Zhao et al. 2016) and its ConvNet baseline. Not as in the paper: Adam as for every aufera model (the
# paper: SGD, momentum 0.9, weight decay 5e-4, learning rate 0.001 lowered after 8,000 iterations).
def _drml_training(preset: str, region_layer: bool, **changes) -> dict:
    return _crop_training({"family": "drml", "preset": preset, "region_layer": region_layer}, **changes)


# Not in the paper: batch 64 and 10 epochs (the paper gives iterations on BP4D, not epochs of FERA 2017).
_DRML_PAPER = {"batch_size": 64, "epochs_drml": 10}
# The cpu-small configs train on the centre crops without flips, i.e. without augmentation: on the 16
# subjects of the default synthetic corpus, random crops and flips (and the brightness and contrast
# changes of He et al.'s cpu-small) slowed learning so much that 8 epochs left DRML below the F1 of
# always answering "present" (measured in docs/drml.md).
_DRML_CPU_SMALL = {"augmentation": {"flip": False}}
TRAIN_PRESETS.update(
    {
        "drml": _drml_training("paper", True, **_DRML_PAPER),
        "convnet": _drml_training("paper", False, **_DRML_PAPER),
        "drml-cpu-small": _drml_training("cpu-small", True, **_DRML_CPU_SMALL),
        "convnet-cpu-small": _drml_training("cpu-small", False, **_DRML_CPU_SMALL),
    }
)


# Chu et al. 2019 (the CNN-LSTM hybrid). The paper config trains the CNN as the paper does: random 176 crops
# and horizontal flips, SGD with momentum 0.9 and weight decay 5e-4, batch 196, learning rate 1e-3 (constant:
# the paper lowers it by hand when the validation loss stalls); whole 1,300-frame sequences for the LSTMs.
# The cpu-small config trains the CNN with Adam on centre crops (as DRML's cpu-small, docs/drml.md) and the
# LSTMs on 100-frame subsequences. On the CNN-LSTM corpus the CNN's validation mean F1 levels off after 3-4
# epochs; the LSTMs of the cpu-small preset (no dropout) learn with RMSProp at 1e-2 in 15 epochs, at the
# paper's 1e-3 they had reached 0.38 after 30 (docs/cnn_lstm.md, "How the cpu-small config was chosen").
TRAIN_PRESETS.update(
    {
        "chu2019": _crop_training(
            {"family": "chu2019", "preset": "paper"},
            batch_size=196,
            epochs_chu_cnn=10,
            optimizer={"name": "sgd", "lr_schedule": "constant", "momentum": 0.9, "weight_decay": 5e-4},
            sequence={"length": 1300},
        ),
        "chu2019-cpu-small": _crop_training(
            {"family": "chu2019", "preset": "cpu-small"},
            augmentation={"flip": False},
            epochs_chu_cnn=4,
            epochs_chu_lstm=15,
            sequence={"learning_rate": 1e-2},
        ),
    }
)


def train_preset_names() -> tuple[str, ...]:
    """The names of the training presets."""
    return tuple(TRAIN_PRESETS)


# === Keys, types and values ===


def _sections(cls=TrainConfig) -> dict[str, type]:
    """Field name -> dataclass type, for the fields of `cls` that are nested configs."""
    kinds = typing.get_type_hints(cls)
    return {name: kind for name, kind in kinds.items() if dataclasses.is_dataclass(kind)}


def field_types() -> dict[str, object]:
    """Every settable key, as a dotted path, and its type ("optimizer.learning_rate": float)."""
    return dict(_field_types())


# Computed once: reading the type hints of the dataclasses is slow, and a YAML file checks every key it sets.
@functools.cache
def _field_types() -> dict[str, object]:
    out = {}
    for name, kind in typing.get_type_hints(TrainConfig).items():
        if dataclasses.is_dataclass(kind):
            out.update({f"{name}.{k}": v for k, v in typing.get_type_hints(kind).items()})
        else:
            out[name] = kind
    return out


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
            # "3", "3.0" and "1e3" are integers; read exactly (a float would turn 2**63 + 1 into 2**63).
            float(text)  # Python's syntax of a number (Decimal's alone is looser)
            value = Decimal(text)
            if not value.is_finite() or value != value.to_integral_value():
                raise ValueError(text)
        if kind is float:
            value = float(text)
    except (ValueError, ArithmeticError):
        raise ValueError(f"`{key}` expects {kind.__name__}. Received: {key}={text!r}") from None
    if kind is int:
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise ValueError(f"`{key}` expects an integer of 64 bits (below 2**63 in size). Received: {key}={text!r}")
        return int(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"`{key}` expects a finite number. Received: {key}={text!r}")
        return value
    return text


def _check_key(key: str, where: str) -> None:
    known = _field_types()
    if key in known:
        return
    sections = _sections()
    if key in sections:
        first = next(iter(typing.get_type_hints(sections[key])))
        hint = f" ({key} is a section: set its keys, e.g. {key}.{first}=...)"
    else:
        near = [k for k in known if k.endswith(f".{key}")]
        hint = f" (did you mean {near[0]}?)" if near else f". Known keys: {sorted(known)}"
    raise ValueError(f"Unknown config key {key!r} in {where}{hint}")


def _set(values: dict, key: str, value) -> None:
    """Sets a dotted key in a nested dict of values."""
    head, _, rest = key.partition(".")
    if rest:
        values.setdefault(head, {})[rest] = value
    else:
        values[head] = value


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_overrides(overrides) -> dict:
    """Parses `key=value` strings into a nested dict of typed values.

    Args:
        overrides: iterable of str, each "key=value" with key a dotted path of
            `field_types()` ("epochs_network1", "optimizer.learning_rate").

    Returns:
        A nested dict ({"optimizer": {"learning_rate": 1e-4}}), values
        converted to the field's type.

    Raises:
        ValueError: naming the string, when it has no "=", names an unknown
            key, or has a value of the wrong type.
    """
    kinds = field_types()
    parsed: dict = {}
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"Overrides must be key=value. Received: {item!r}")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        _check_key(key, f"override {item!r}")
        _set(parsed, key, _parse_value(key, text, kinds[key]))
    return parsed


def _from_yaml(path: Path) -> dict:
    """The values of a YAML config file, typed, as a nested dict."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        data = yaml.safe_load(text) or {}
    # PyYAML's constructors raise ValueError on a bad date or "!!int" value, RecursionError on deep nesting.
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must be a mapping of keys to values")
    kinds = field_types()
    values: dict = {}
    for key, value in _flatten(data).items():
        _check_key(key, str(path))
        if isinstance(value, list):  # its text ("[1, 2]") would pass for a str setting
            raise ValueError(f"{path}: `{key}` takes one value, not a list. Received: {key}={value!r}")
        # YAML reads 1e-3 as a string and 3 for a float as an int: go through the text.
        _set(values, key, _parse_value(key, "null" if value is None else str(value), kinds[key]))
    return values


def build_config(values: dict) -> TrainConfig:
    """A `TrainConfig` from a nested dict of field values (sections as dicts)."""
    values = dict(values)
    for name, kind in _sections().items():
        if name in values:
            values[name] = kind(**values[name])
    return TrainConfig(**values)


def resolve_config(preset_or_yaml: str, overrides=()) -> TrainConfig:
    """Resolves a training preset name or YAML file plus `key=value` overrides into a checked `TrainConfig`.

    A YAML file is a nested mapping of `TrainConfig` fields; its optional
    `preset` key names the training preset it starts from (default
    "cpu-small"), so a `config.yaml` saved in a run directory resolves to the
    same config.

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
    resolve_config("paper", ["batch_size=32", "optimizer.learning_rate=1e-4"])
    resolve_config("runs/demo/config.yaml")
    ```
    """
    name = str(preset_or_yaml)
    if name in TRAIN_PRESETS:
        values = {"preset": name, **TRAIN_PRESETS[name]}
    elif name.endswith((".yaml", ".yml")) or Path(name).is_file():
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"{path}: no such config file")
        data = _from_yaml(path)
        base = data.get("preset", "cpu-small")
        if base not in TRAIN_PRESETS:
            raise ValueError(f"{path}: unknown preset {base!r}. Available presets: {sorted(TRAIN_PRESETS)}")
        values = _merge({"preset": base, **TRAIN_PRESETS[base]}, data)
    else:
        raise ValueError(
            f"Not a training preset or a YAML file. Available presets: {sorted(TRAIN_PRESETS)}. "
            f"Received: {preset_or_yaml!r}"
        )
    values = _merge(values, parse_overrides(overrides))
    if values["preset"] not in TRAIN_PRESETS:
        # The recorded preset is where `config.yaml` starts from when it is read again: it must be one.
        raise ValueError(
            f"`preset` must be one of the training presets {sorted(TRAIN_PRESETS)}. Received: preset={values['preset']!r}"
        )
    return build_config(values)


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
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    return atomic_write_text(run_dir / CONFIG_FILE, text)


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


def load_run_config(run_dir) -> TrainConfig | None:
    """The config of a run directory, as `load_config`, or None when the run has no `config.yaml`.

    For readers of a run written by `aufera train` (resuming it, evaluating
    it), where a bad file is bad input.

    Args:
        run_dir: str or Path. A run directory.

    Returns:
        A `TrainConfig`, or None.

    Raises:
        AuferaError: one line naming the file, when it is not a valid config.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except ValueError as error:
        message = str(error)
        raise AuferaError(message if message.startswith(str(path)) else f"{path}: {message}") from None
