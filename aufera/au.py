"""Action units, facial views and the label encoding: one source of truth.

Every module of aufera takes the AU order, the view numbering and the label
codes from here.

Label encoding (contract):
    +1 the AU is present, -1 it is absent, 0 its label is unknown. Losses and
    metrics ignore unknown labels. A 2-neuron AU output has index 0 = present
    and index 1 = absent.

FERA 2017 occurrence files use 1 (present), 0 (absent) and 9 (unknown); any
other value is read as unknown as well.

Views (contract):
    FERA 2017 renders every session from 9 camera views, numbered 1-9 in file
    names. Inside aufera a view is stored as an index 0-8 (view number - 1).
    The views form a 3x3 grid of yaw and pitch: view number
    ``1 + 3 * pitch_index + yaw_index``, with yaw index 0, 1, 2 for the head
    turned towards image left, frontal and image right, and pitch index 0, 1, 2
    for the head turned down, level and up. View 5 is frontal. The angles
    below are the grid the synthetic corpus renders by default (yaw -40, 0,
    +40 degrees; pitch -20, 0, +20 degrees); FERA 2017 publishes the grid, not
    exact angles per view.

References:
    He et al. 2019, Sec. 4.1 (the 10 AUs and 9 views of FERA 2017).
    Ekman, Friesen and Hager 2002, FACS manual (AU names and regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRESENT = 1
ABSENT = -1
UNKNOWN = 0

# Values in FERA 2017 occurrence CSVs.
FERA_PRESENT = 1
FERA_ABSENT = 0
FERA_UNKNOWN = 9

# A face region is a box in normalised face coordinates: x runs from the
# subject's left eye centre (x = 0) to the right eye centre (x = 1) of the
# image, y from the eye line (y = 0) down to the mouth-corner line (y = 1).
# These coordinates are independent of face size and identity, so the same
# boxes serve the synthetic renderer, its tests and region-level analyses.


@dataclass(frozen=True)
class ActionUnit:
    """One facial action unit.

    Args:
        number: int. FACS number, e.g. 12 for AU12.
        name: str. FACS name.
        region: str. Name of the face region the AU changes.
        box: tuple of 4 floats. The region as (x0, y0, x1, y1) in normalised
            face coordinates (see the module docstring).
    """

    number: int
    name: str
    region: str
    box: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        """The AU's name in tables and metrics files, e.g. "AU12"."""
        return f"AU{self.number}"


ACTION_UNITS: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "inner brows, central forehead and upper lids", (-0.1, -1.25, 1.1, 0.05)),
    ActionUnit(4, "Brow Lowerer", "brows and glabella", (-0.45, -0.95, 1.45, -0.05)),
    ActionUnit(6, "Cheek Raiser", "cheeks, lower lids and outer eye corners", (-0.75, -0.3, 1.75, 0.8)),
    ActionUnit(7, "Lid Tightener", "eyelids", (-0.4, -0.3, 1.4, 0.3)),
    ActionUnit(10, "Upper Lip Raiser", "upper lip and nasolabial furrows", (-0.25, 0.45, 1.25, 1.05)),
    ActionUnit(12, "Lip Corner Puller", "lip corners and nasolabial furrows", (-0.35, 0.45, 1.35, 1.25)),
    ActionUnit(14, "Dimpler", "lip corners and dimples", (-0.35, 0.7, 1.35, 1.3)),
    ActionUnit(15, "Lip Corner Depressor", "lip corners and below", (-0.3, 0.75, 1.3, 1.55)),
    ActionUnit(17, "Chin Raiser", "chin and lower lip", (0.05, 1.0, 0.95, 1.95)),
    ActionUnit(23, "Lip Tightener", "lips", (-0.15, 0.75, 1.15, 1.3)),
)

AU_NUMBERS: tuple[int, ...] = tuple(au.number for au in ACTION_UNITS)
AU_KEYS: tuple[str, ...] = tuple(au.key for au in ACTION_UNITS)
NUM_AUS = len(ACTION_UNITS)

# Base rates of the 10 AUs in the FERA 2017 training set, in AU order.
FERA2017_TRAIN_BASE_RATES: tuple[float, ...] = (0.21, 0.20, 0.46, 0.55, 0.59, 0.56, 0.47, 0.17, 0.34, 0.17)


@dataclass(frozen=True)
class View:
    """One of the 9 FERA 2017 camera views.

    Args:
        number: int. The view number 1-9 used in FERA 2017 file names.
        yaw: float. Default yaw of the head relative to the camera, degrees;
            positive turns the face towards image right.
        pitch: float. Default pitch, degrees; positive turns the face up.
    """

    number: int
    yaw: float
    pitch: float

    @property
    def index(self) -> int:
        """The view as stored inside aufera (0-8)."""
        return self.number - 1


DEFAULT_YAWS: tuple[float, float, float] = (-40.0, 0.0, 40.0)
DEFAULT_PITCHES: tuple[float, float, float] = (-20.0, 0.0, 20.0)
NUM_VIEWS = 9


def view_grid(yaws=DEFAULT_YAWS, pitches=DEFAULT_PITCHES) -> tuple[View, ...]:
    """Returns the 9 views for a 3x3 grid of yaw and pitch angles.

    Args:
        yaws: 3 floats. Yaw angles in degrees, for yaw index 0, 1, 2.
        pitches: 3 floats. Pitch angles in degrees, for pitch index 0, 1, 2.
    """
    yaws, pitches = tuple(float(y) for y in yaws), tuple(float(p) for p in pitches)
    if len(yaws) != 3 or len(pitches) != 3:
        raise ValueError(f"A view grid needs 3 yaws and 3 pitches. Received: yaws={yaws}, pitches={pitches}")
    return tuple(View(1 + 3 * p + y, yaws[y], pitches[p]) for p in range(3) for y in range(3))


VIEWS: tuple[View, ...] = view_grid()


def encode_fera_occurrence(values) -> np.ndarray:
    """Maps FERA 2017 occurrence codes to the aufera label encoding.

    1 -> +1 (present), 0 -> -1 (absent), 9 and every other value -> 0
    (unknown).

    Args:
        values: array-like of numbers (ints, floats or NaN).

    Returns:
        An int8 array of the same shape.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.full(values.shape, UNKNOWN, dtype=np.int8)
    labels[values == FERA_PRESENT] = PRESENT
    labels[values == FERA_ABSENT] = ABSENT
    return labels


def decode_to_fera_occurrence(labels) -> np.ndarray:
    """Maps aufera labels (+1, -1, 0) back to FERA 2017 codes (1, 0, 9)."""
    labels = np.asarray(labels)
    bad = ~np.isin(labels, (PRESENT, ABSENT, UNKNOWN))
    if bad.any():
        raise ValueError(f"Labels must be +1, -1 or 0. Received: {np.unique(labels[bad]).tolist()}")
    codes = np.full(labels.shape, FERA_UNKNOWN, dtype=np.int64)
    codes[labels == PRESENT] = FERA_PRESENT
    codes[labels == ABSENT] = FERA_ABSENT
    return codes
