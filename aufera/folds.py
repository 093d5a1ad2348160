"""Subject-exclusive k-fold splits (the protocol of Chu et al. 2019).

The subjects are divided into k near-equal partitions; fold i tests on
partition i and trains on the other k - 1, of which a share (about 20%) of
the subjects is held out for validation. No subject is in two parts of one
fold, and every subject is tested in exactly one fold.

The split depends only on the set of subjects, k, the validation share and
the seed: the subjects are deduplicated and sorted first, then shuffled with
`random.Random(seed)`, so the order they are given in does not matter.

A split is written as a JSON data file (`aufera.filenames.FOLDS_FILE`)::

    {"protocol": "subject-exclusive", "k": 3, "seed": 0, "validation_share": 0.2,
     "folds": [{"index": 0, "train": [...], "validation": [...], "test": [...]}, ...]}

Importing this module imports no TensorFlow (nor NumPy).

References:
    Chu, De la Torre and Cohn 2019, "Learning facial action units with
    spatiotemporal cues and multi-label sampling" (subject-exclusive 3-fold
    and 10-fold protocols).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aufera.files import atomic_write_text

PROTOCOL = "subject-exclusive"
PARTS = ("train", "validation", "test")
_SHOWN = 5  # subjects named in an error message before "..."


@dataclass(frozen=True)
class Fold:
    """One fold of a subject-exclusive split.

    Args:
        index: int. The fold's number, 0 to k - 1; it tests on partition `index`.
        train: tuple of str. Training subjects, sorted.
        validation: tuple of str. Validation subjects (held out of the
            training partitions), sorted.
        test: tuple of str. Test subjects (partition `index`), sorted.
    """

    index: int
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]

    def parts(self) -> dict[str, tuple[str, ...]]:
        """{"train": ..., "validation": ..., "test": ...}."""
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def to_dict(self) -> dict:
        return {"index": self.index, **{name: list(subjects) for name, subjects in self.parts().items()}}


def _shown(subjects: Sequence[str]) -> str:
    if not subjects:
        return "none"
    return ", ".join(subjects[:_SHOWN]) + (", ..." if len(subjects) > _SHOWN else "")


def _subject_list(subjects) -> list[str]:
    if isinstance(subjects, str) or not isinstance(subjects, Iterable):
        raise ValueError(f"subjects must be an iterable of subject ids (str). Received: subjects={subjects!r}")
    subjects = list(subjects)
    bad = [s for s in subjects if not isinstance(s, str) or not s]
    if bad:
        raise ValueError(f"subjects must be non-empty str. Received: {bad[0]!r}")
    return sorted(set(subjects))


def validation_count(train_subjects: int, validation_share: float) -> int:
    """The validation subjects held out of `train_subjects` training subjects.

    `validation_share * train_subjects` rounded half up, at least 1 when the
    share is above 0 and at least 2 subjects train, and leaving at least 1
    subject to train on.
    """
    count = math.floor(validation_share * train_subjects + 0.5)
    if validation_share > 0 and train_subjects >= 2:
        count = max(count, 1)
    return max(0, min(count, train_subjects - 1))


def subject_folds(subjects, k: int, validation_share: float = 0.2, seed: int = 0) -> list[Fold]:
    """Splits subjects into k subject-exclusive folds.

    The sorted, deduplicated subjects are shuffled with the seed and cut into
    k partitions whose sizes differ by at most 1 (the first n mod k are one
    larger). Fold i tests on partition i; of the other subjects,
    `validation_count(n - len(test), validation_share)` are drawn (seeded)
    for validation and the rest train.

    Args:
        subjects: iterable of str. Subject ids; duplicates are removed.
        k: int. Number of folds, from 2 to the number of subjects.
        validation_share: float. Share of the non-test subjects held out for
            validation, in [0, 1). Defaults to 0.2.
        seed: int. Seed of the shuffle (>= 0). Defaults to 0.

    Returns:
        list of k `Fold`, in index order.

    Raises:
        ValueError: a bad k, validation_share, seed or subject (one line,
            naming the value).
    """
    ids = _subject_list(subjects)
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k={k!r}: the number of folds must be a whole number >= 2")
    if k < 2:
        raise ValueError(f"k={k}: a subject-exclusive split needs at least 2 folds")
    if k > len(ids):
        raise ValueError(
            f"k={k}: a subject-exclusive {k}-fold split needs at least {k} subjects; there are {len(ids)} "
            f"({_shown(ids)})"
        )
    if (
        isinstance(validation_share, bool)
        or not isinstance(validation_share, (int, float))
        or not 0.0 <= validation_share < 1.0
    ):
        raise ValueError(
            f"validation_share={validation_share!r}: the share of training subjects held out for validation must be "
            "in [0, 1)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}: the seed must be a whole number >= 0")
    rng = random.Random(seed)
    order = rng.sample(ids, len(ids))
    size, extra = divmod(len(ids), k)
    partitions, start = [], 0
    for i in range(k):
        end = start + size + (i < extra)
        partitions.append(order[start:end])
        start = end
    folds = []
    for i, test in enumerate(partitions):
        rest = sorted(s for j, part in enumerate(partitions) if j != i for s in part)
        validation = set(rng.sample(rest, validation_count(len(rest), float(validation_share))))
        folds.append(
            Fold(
                index=i,
                train=tuple(s for s in rest if s not in validation),
                validation=tuple(sorted(validation)),
                test=tuple(sorted(test)),
            )
        )
    return folds


def check_folds(folds: Sequence[Fold]) -> None:
    """Checks that a split is subject-exclusive.

    Raises ValueError (one line, naming the subject and the fold) when a
    subject is in two parts of one fold, in the test partitions of two folds,
    in no test partition, or missing from a fold; also when the folds are not
    numbered 0 to k - 1 in order, or a fold has no training or test subject.
    """
    folds = list(folds)
    if len(folds) < 2:
        raise ValueError(f"a subject-exclusive split needs at least 2 folds; there are {len(folds)}")
    everyone = set()
    for position, fold in enumerate(folds):
        if not isinstance(fold, Fold):
            raise ValueError(f"fold {position} is not a Fold. Received: {fold!r}")
        if fold.index != position:
            raise ValueError(f"fold {position} has index {fold.index!r}; folds must be numbered 0 to k - 1 in order")
        seen: dict[str, str] = {}
        for name, subjects in fold.parts().items():
            for subject in subjects:
                if subject in seen:
                    where = (
                        f"twice in its {name} part"
                        if seen[subject] == name
                        else f"in its {seen[subject]} and {name} parts"
                    )
                    raise ValueError(f"subject {subject} is {where} of fold {fold.index}")
                seen[subject] = name
        for name in ("train", "test"):
            if not fold.parts()[name]:
                raise ValueError(f"fold {fold.index} has no {name} subject")
        everyone |= set(seen)
    tested: dict[str, int] = {}
    for fold in folds:
        missing = sorted(everyone - set(fold.train) - set(fold.validation) - set(fold.test))
        if missing:
            raise ValueError(f"subject {missing[0]} is in no part of fold {fold.index} (but in another fold)")
        for subject in fold.test:
            if subject in tested:
                raise ValueError(
                    f"subject {subject} is in the test partitions of fold {tested[subject]} and fold {fold.index}"
                )
            tested[subject] = fold.index
    untested = sorted(everyone - set(tested))
    if untested:
        raise ValueError(f"subject {untested[0]} is in the test partition of no fold")


def folds_data(folds: Sequence[Fold], seed: int | None = None, validation_share: float | None = None) -> dict:
    """The JSON-ready data of a split (what `write_folds` writes)."""
    data: dict = {"protocol": PROTOCOL, "k": len(folds)}
    if seed is not None:
        data["seed"] = seed
    if validation_share is not None:
        data["validation_share"] = validation_share
    data["folds"] = [fold.to_dict() for fold in folds]
    return data


def write_folds(folds: Sequence[Fold], path, *, seed: int | None = None, validation_share: float | None = None) -> Path:
    """Checks a split (`check_folds`) and writes it atomically as JSON.

    Args:
        folds: list of Fold, e.g. from `subject_folds`.
        path: str or Path. The file (conventionally `aufera.filenames.FOLDS_FILE`); its folder must exist.
        seed: int or None. The seed that made the split, recorded when given.
        validation_share: float or None. The validation share that made it,
            recorded when given.

    Returns:
        The path written.
    """
    folds = list(folds)
    check_folds(folds)
    text = json.dumps(folds_data(folds, seed, validation_share), indent=2) + "\n"
    return atomic_write_text(path, text)


def _subjects(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ValueError(f"{where} must be a list of subject ids")
    return tuple(sorted(value))


def read_folds(path) -> list[Fold]:
    """Reads a split written by `write_folds` and checks it (`check_folds`).

    Raises:
        ValueError: one line naming the file, when it cannot be read, is not
            such a JSON file, or its folds are not subject-exclusive.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: folds file cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: damaged folds file, not JSON ({error})") from None
    try:
        if not isinstance(data, dict) or data.get("protocol") != PROTOCOL:
            raise ValueError(f'expected a JSON object with "protocol": "{PROTOCOL}"')
        entries = data.get("folds")
        if not isinstance(entries, list):
            raise ValueError('"folds" must be a list')
        folds = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"index", *PARTS}:
                raise ValueError(f"fold {position} must have exactly the keys index, train, validation, test")
            index = entry["index"]
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"fold {position} has index {index!r}, not a whole number")
            folds.append(Fold(index, *(_subjects(entry[name], f"fold {position} {name}") for name in PARTS)))
        if data.get("k") != len(folds):
            raise ValueError(f"k={data.get('k')!r} but the file holds {len(folds)} folds")
        check_folds(folds)
    except ValueError as error:
        raise ValueError(f"{path}: damaged folds file: {error}") from None
    return folds
