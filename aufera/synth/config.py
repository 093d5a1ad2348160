"""Configuration of the synthetic corpus."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from numbers import Integral

from aufera.au import DEFAULT_PITCHES, DEFAULT_YAWS, FERA2017_TRAIN_BASE_RATES, NUM_AUS, NUM_VIEWS

# The whole-number fields and their inclusive ranges (the `aufera synth` flags check the same ranges).
INT_LIMITS = {
    "train_subjects": (1, 999),
    "valid_subjects": (1, 999),
    "tasks": (1, 99),
    "frames": (1, 100_000),
    "size": (64, 2048),
    "fps": (1, 240),
}


@dataclass
class SynthConfig:
    """Everything that determines a synthetic corpus.

    The same config (seed included) gives byte-identical label files and
    identical decoded frames, whatever the number of workers.

    Args:
        train_subjects: int. Subjects in the training part. Defaults to 16.
        valid_subjects: int. Subjects in the validation part, disjoint from
            the training subjects. Defaults to 6.
        tasks: int. Sessions per subject. Defaults to 2.
        frames: int. Frames per session (and rows of its label file).
            Defaults to 20.
        size: int. Frame width and height in pixels. Defaults to 160.
        seed: int. Seed of everything random. Defaults to 0.
        base_rates: 10 floats. Share of frames in which each AU is present,
            in AU order, per split. Defaults to the FERA 2017 training set.
        unknown_rate: float. Share of labels written as 9 (unknown).
            Defaults to 0.02.
        present_from: float. Intensity level from which an AU counts as
            present (1 = A ... 5 = E). Defaults to 1 (A).
        yaws: 3 floats. Yaw of the view grid, degrees. Defaults to -40, 0, 40.
        pitches: 3 floats. Pitch of the view grid, degrees. Defaults to -20, 0, 20.
        smoothness: float. Time scale of AU episodes and head motion, in
            frames (the standard deviation of the temporal smoothing kernel);
            the median AU episode lasts about 2.5-3 times as many frames
            (`aufera.synth.episodes`). Defaults to 3.
        face_scale: float. Distance between the eyes as a share of the frame
            size, for the frontal view. Defaults to 0.19.
        motion: dict. Standard deviations of the head motion within a session:
            yaw, pitch, roll (degrees), shift (share of the frame), scale
            (relative), light (degrees of light azimuth).
        noise: float. Standard deviation of sensor noise, in grey levels.
            Defaults to 2.
        fps: int. Frame rate written into the videos. Defaults to 25.
        views: tuple of ints or None. The views whose videos are written, as
            FERA 2017 view numbers 1-9 (file names); distinct, at least one,
            kept in increasing order. None writes all 9. Label files are per
            session and do not depend on it. Defaults to None.
    """

    train_subjects: int = 16
    valid_subjects: int = 6
    tasks: int = 2
    frames: int = 20
    size: int = 160
    seed: int = 0
    base_rates: tuple = FERA2017_TRAIN_BASE_RATES
    unknown_rate: float = 0.02
    present_from: float = 1.0
    yaws: tuple = DEFAULT_YAWS
    pitches: tuple = DEFAULT_PITCHES
    smoothness: float = 3.0
    face_scale: float = 0.19
    motion: dict = field(
        default_factory=lambda: {"yaw": 3.0, "pitch": 2.0, "roll": 2.0, "shift": 0.025, "scale": 0.04, "light": 12.0}
    )
    noise: float = 2.0
    fps: int = 25
    views: tuple | None = None

    def __post_init__(self):
        self.base_rates = tuple(float(r) for r in self.base_rates)
        self.yaws = tuple(float(a) for a in self.yaws)
        self.pitches = tuple(float(a) for a in self.pitches)
        if self.views is not None and not isinstance(self.views, (str, bytes)) and isinstance(self.views, Iterable):
            self.views = tuple(self.views)
        self.validate()
        if self.views is not None:
            self.views = tuple(sorted(int(number) for number in self.views))

    @property
    def view_numbers(self) -> tuple[int, ...]:
        """The view numbers (1-9) whose videos are written, in increasing order."""
        return tuple(range(1, NUM_VIEWS + 1)) if self.views is None else self.views

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        for name, (low, high) in INT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}. Received: {name}={value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0. Received: seed={self.seed!r}")
        if self.train_subjects + self.valid_subjects > 1998:
            raise ValueError("At most 1998 subjects fit the F001-F999 / M001-M999 ids.")
        if len(self.base_rates) != NUM_AUS or not all(0.0 < r < 1.0 for r in self.base_rates):
            raise ValueError(
                f"base_rates must be {NUM_AUS} numbers strictly between 0 and 1. Received: {self.base_rates}"
            )
        if not 0.0 <= self.unknown_rate < 0.5:
            raise ValueError(f"unknown_rate must be in [0, 0.5). Received: unknown_rate={self.unknown_rate}")
        if not 1.0 <= self.present_from <= 5.0:
            raise ValueError(
                f"present_from must be a level from 1 (A) to 5 (E). Received: present_from={self.present_from}"
            )
        if len(self.yaws) != 3 or len(self.pitches) != 3 or max(map(abs, self.yaws + self.pitches)) > 60:
            raise ValueError(
                f"The view grid needs 3 yaws and 3 pitches within +-60 degrees. Received: yaws={self.yaws}, "
                f"pitches={self.pitches}"
            )
        if not 0.0 <= self.smoothness <= 1000:
            raise ValueError(f"smoothness must be in [0, 1000] frames. Received: smoothness={self.smoothness}")
        if not 0.08 <= self.face_scale <= 0.3:
            raise ValueError(f"face_scale must be in [0.08, 0.3]. Received: face_scale={self.face_scale}")
        if not 0.0 <= self.noise <= 50:
            raise ValueError(f"noise must be in [0, 50] grey levels. Received: noise={self.noise}")
        if self.views is not None:
            numbers = self.views if isinstance(self.views, tuple) else ()
            if (
                not numbers
                or not all(isinstance(n, Integral) and not isinstance(n, bool) and 1 <= n <= NUM_VIEWS for n in numbers)
                or len(set(numbers)) != len(numbers)
            ):
                raise ValueError(
                    f"views must be distinct view numbers from 1 to {NUM_VIEWS}, at least one, or None for all "
                    f"{NUM_VIEWS}. Received: views={self.views!r}"
                )
        expected = {"yaw", "pitch", "roll", "shift", "scale", "light"}
        if set(self.motion) != expected:
            raise ValueError(f"motion needs exactly the keys {sorted(expected)}. Received: {sorted(self.motion)}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["base_rates"] = list(self.base_rates)
        d["yaws"], d["pitches"] = list(self.yaws), list(self.pitches)
        # All 9 views (None) is left out, so a default corpus's manifest, which
        # `write_corpus` compares to resume, is the one written before this field existed.
        if self.views is None:
            del d["views"]
        else:
            d["views"] = list(self.views)
        return d


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
