"""File layout of FERA 2017 as distributed (contract shared by the reader and
the synthetic corpus writer).

::

    FERA17_Train_MV/FERA17_TR_<Subject>_<Task>_<view>.mp4   videos, view 1-9
    Train_Occ/FERA17_TR_<Subject>_<Task>.csv                 occurrence labels
    FERA17_Valid_MV/FERA17_VA_<Subject>_<Task>_<view>.mp4
    Valid_Occ/FERA17_VA_<Subject>_<Task>.csv

One label file per session is shared by its 9 views: a header row, then one
row per frame with the frame number in column 0 and the 10 AU columns in AU
order, coded 1 (present), 0 (absent) and 9 (unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aufera.au import AU_NUMBERS


@dataclass(frozen=True)
class Split:
    """One part of FERA 2017.

    Args:
        name: str. "train" or "validation" (the dataset split name).
        code: str. "TR" or "VA", as in file names.
        video_dir: str. Folder of the videos.
        label_dir: str. Folder of the occurrence label files.
    """

    name: str
    code: str
    video_dir: str
    label_dir: str


TRAIN = Split("train", "TR", "FERA17_Train_MV", "Train_Occ")
VALIDATION = Split("validation", "VA", "FERA17_Valid_MV", "Valid_Occ")
SPLITS: tuple[Split, ...] = (TRAIN, VALIDATION)

VIDEO_PATTERN = re.compile(r"^FERA17_(TR|VA)_([A-Za-z]+\d+)_([A-Za-z]*\d+)_([1-9])\.mp4$")
LABEL_PATTERN = re.compile(r"^FERA17_(TR|VA)_([A-Za-z]+\d+)_([A-Za-z]*\d+)\.csv$")

LABEL_HEADER = ",".join(["Frame"] + [f"AU{n:02d}" for n in AU_NUMBERS])


def session_name(split: Split, subject: str, task: str) -> str:
    """E.g. FERA17_TR_F001_T1."""
    return f"FERA17_{split.code}_{subject}_{task}"


def video_name(split: Split, subject: str, task: str, view: int) -> str:
    """E.g. FERA17_TR_F001_T1_5.mp4 for view number 5 (1-9)."""
    return f"{session_name(split, subject, task)}_{view}.mp4"


def label_name(split: Split, subject: str, task: str) -> str:
    """E.g. FERA17_TR_F001_T1.csv."""
    return f"{session_name(split, subject, task)}.csv"
