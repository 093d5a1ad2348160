"""Subject-exclusive k-fold splits (`aufera.folds`): coverage, disjointness, sizes, determinism, files, errors."""

import json
import subprocess
import sys
from itertools import combinations

import pytest

from aufera.filenames import FOLDS_FILE
from aufera.folds import Fold, check_folds, read_folds, subject_folds, write_folds

SUBJECTS_10 = [f"F{i:03d}" for i in range(1, 6)] + [f"M{i:03d}" for i in range(1, 6)]
SUBJECTS_41 = [f"S{i:02d}" for i in range(41)]


def _all(fold):
    return set(fold.train) | set(fold.validation) | set(fold.test)


@pytest.mark.parametrize("subjects, k", [(SUBJECTS_10, 3), (SUBJECTS_41, 10), (SUBJECTS_10, 10), (SUBJECTS_10, 2)])
def test_every_subject_is_tested_exactly_once_and_parts_are_disjoint(subjects, k):
    folds = subject_folds(subjects, k)
    assert [f.index for f in folds] == list(range(k))
    tested = [s for f in folds for s in f.test]
    assert sorted(tested) == sorted(subjects)  # each subject once over the k test partitions
    for fold in folds:
        parts = [set(fold.train), set(fold.validation), set(fold.test)]
        for a, b in combinations(parts, 2):
            assert not a & b, fold
        assert sum(len(p) for p in parts) == len(subjects)
        assert _all(fold) == set(subjects)
        for part in (fold.train, fold.validation, fold.test):
            assert list(part) == sorted(part) and isinstance(part, tuple)
    # Test partitions are pairwise disjoint (an independent computation).
    for a, b in combinations(folds, 2):
        assert not set(a.test) & set(b.test)


def test_partition_sizes_are_near_equal():
    assert sorted(len(f.test) for f in subject_folds(SUBJECTS_10, 3)) == [3, 3, 4]
    assert sorted(len(f.test) for f in subject_folds(SUBJECTS_41, 10)) == [4] * 9 + [5]
    assert [len(f.test) for f in subject_folds(SUBJECTS_10, 10)] == [1] * 10


@pytest.mark.parametrize("subjects, k", [(SUBJECTS_10, 3), (SUBJECTS_41, 10), (SUBJECTS_41, 3)])
def test_validation_is_about_a_fifth_of_the_training_subjects(subjects, k):
    for fold in subject_folds(subjects, k):
        non_test = len(fold.train) + len(fold.validation)
        assert len(fold.validation) == int(0.2 * non_test + 0.5)  # rounded half up
        assert abs(len(fold.validation) / non_test - 0.2) <= 0.5 / non_test
        assert len(fold.train) >= 1


def test_validation_share_edges():
    for fold in subject_folds(SUBJECTS_10, 3, validation_share=0.0):
        assert fold.validation == () and len(fold.train) == 10 - len(fold.test)
    # A tiny share still holds out one subject; a large one leaves one to train on.
    assert all(len(f.validation) == 1 for f in subject_folds(SUBJECTS_10, 3, validation_share=0.01))
    assert all(len(f.train) == 1 for f in subject_folds(SUBJECTS_10, 3, validation_share=0.99))
    # Two subjects, two folds: one non-test subject, which must train.
    for fold in subject_folds(["A", "B"], 2):
        assert len(fold.train) == 1 and fold.validation == ()


def test_deterministic_and_independent_of_input_order_and_duplicates():
    folds = subject_folds(SUBJECTS_41, 10, seed=3)
    assert subject_folds(SUBJECTS_41, 10, seed=3) == folds
    shuffled = list(reversed(SUBJECTS_41)) + SUBJECTS_41[:7]
    assert subject_folds(iter(shuffled), 10, seed=3) == folds
    assert subject_folds(set(SUBJECTS_41), 10, seed=3) == folds


def test_same_split_in_a_fresh_interpreter():
    # The split does not depend on hash randomisation or process state.
    code = (
        f"from aufera.folds import subject_folds; print([f.test for f in subject_folds({SUBJECTS_41!r}, 10, seed=5)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == str([f.test for f in subject_folds(SUBJECTS_41, 10, seed=5)])


def test_different_seeds_differ():
    tests = {tuple(f.test for f in subject_folds(SUBJECTS_41, 10, seed=s)) for s in range(5)}
    assert len(tests) == 5
    validations = {tuple(f.validation for f in subject_folds(SUBJECTS_10, 3, seed=s)) for s in range(5)}
    assert len(validations) > 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=1), "k=1: a subject-exclusive split needs at least 2 folds"),
        (dict(k=0), "k=0"),
        (dict(k=-3), "k=-3"),
        (dict(k=2.5), "k=2.5"),
        (dict(k=True), "k=True"),
        (
            dict(k=12),
            "k=12: a subject-exclusive 12-fold split needs at least 12 subjects; there are 10 "
            "(F001, F002, F003, F004, F005, ...)",
        ),
        (dict(k=3, validation_share=1.0), "validation_share=1.0"),
        (dict(k=3, validation_share=-0.1), "validation_share=-0.1"),
        (dict(k=3, validation_share=float("nan")), "validation_share=nan"),
        (dict(k=3, validation_share="0.2"), "validation_share='0.2'"),
        (dict(k=3, seed=-1), "seed=-1"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError) as info:
        subject_folds(SUBJECTS_10, **kwargs)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_bad_subjects():
    with pytest.raises(ValueError, match="k=2: .* there are 1 \\(A\\)"):
        subject_folds(["A", "A"], 2)
    with pytest.raises(ValueError, match="there are 0 \\(none\\)"):
        subject_folds([], 2)
    with pytest.raises(ValueError, match="iterable of subject ids"):
        subject_folds("F001F002", 2)
    with pytest.raises(ValueError, match="non-empty str. Received: 7"):
        subject_folds(["F001", 7], 2)


def test_round_trip(tmp_path):
    folds = subject_folds(SUBJECTS_41, 10, seed=2)
    path = write_folds(folds, tmp_path / FOLDS_FILE, seed=2, validation_share=0.2)
    assert path == tmp_path / FOLDS_FILE
    assert read_folds(path) == folds
    data = json.loads(path.read_text())
    assert data["protocol"] == "subject-exclusive" and data["k"] == 10
    assert data["seed"] == 2 and data["validation_share"] == 0.2
    assert data["folds"][0] == folds[0].to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDS_FILE]  # no temporary file left


def _fold(index, train, validation, test):
    return Fold(index, tuple(train), tuple(validation), tuple(test))


def test_check_folds_accepts_a_good_split():
    check_folds(subject_folds(SUBJECTS_10, 3))


@pytest.mark.parametrize(
    "folds, message",
    [
        (
            [_fold(0, ["A", "B"], ["C"], ["D"]), _fold(1, ["B", "D"], ["D"], ["A", "C"])],
            "subject D is in its train and validation parts of fold 1",
        ),
        (
            [_fold(0, ["A", "B"], [], ["B", "C"]), _fold(1, ["B", "C"], [], ["A"])],
            "subject B is in its train and test parts of fold 0",
        ),
        (
            [_fold(0, ["A", "B"], [], ["C", "D"]), _fold(1, ["A", "B"], [], ["C", "D"])],
            "subject C is in the test partitions of fold 0 and fold 1",
        ),
        (
            [_fold(0, ["A", "A"], [], ["B"]), _fold(1, ["B"], [], ["A"])],
            "subject A is twice in its train part of fold 0",
        ),
        (
            [_fold(0, ["A", "B"], [], ["C"]), _fold(1, ["C", "B"], [], ["A"])],
            "subject B is in the test partition of no fold",
        ),
        (
            [_fold(0, ["A"], [], ["C"]), _fold(1, ["C", "B"], [], ["A"])],
            "subject B is in no part of fold 0",
        ),
        ([_fold(1, ["A"], [], ["B"]), _fold(0, ["B"], [], ["A"])], "fold 0 has index 1"),
        ([_fold(0, [], ["A"], ["B"]), _fold(1, ["B"], [], ["A"])], "fold 0 has no train subject"),
        ([_fold(0, ["A"], [], ["B"])], "at least 2 folds"),
    ],
)
def test_check_folds_catches_bad_splits(folds, message):
    with pytest.raises(ValueError, match=message):
        check_folds(folds)


def test_write_folds_refuses_a_bad_split(tmp_path):
    folds = [_fold(0, ["A", "B"], [], ["C", "D"]), _fold(1, ["A", "B"], [], ["C", "D"])]
    with pytest.raises(ValueError, match="subject C is in the test partitions"):
        write_folds(folds, tmp_path / FOLDS_FILE)
    assert not list(tmp_path.iterdir())


def _written(tmp_path):
    path = write_folds(subject_folds(SUBJECTS_10, 3), tmp_path / FOLDS_FILE)
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text, data: text[: len(text) // 2], "not JSON"),
        (lambda text, data: "", "not JSON"),
        (lambda text, data: "[1, 2]", "protocol"),
        (lambda text, data: json.dumps({**data, "protocol": "random"}), "protocol"),
        (lambda text, data: json.dumps({**data, "k": 4}), "k=4 but the file holds 3 folds"),
        (lambda text, data: json.dumps({**data, "folds": {}}), '"folds" must be a list'),
        (
            lambda text, data: json.dumps(
                {**data, "folds": [{**data["folds"][0], "train": "F001"}, *data["folds"][1:]]}
            ),
            "fold 0 train must be a list of subject ids",
        ),
        (
            lambda text, data: json.dumps({**data, "folds": [{"index": 0}, *data["folds"][1:]]}),
            "fold 0 must have exactly the keys",
        ),
        (
            lambda text, data: json.dumps(
                {
                    **data,
                    "folds": [
                        data["folds"][0],
                        {**data["folds"][1], "test": data["folds"][0]["test"]},
                        data["folds"][2],
                    ],
                }
            ),
            "damaged folds file: subject ",  # fold 1 now tests fold 0's subjects, which it also trains on
        ),
    ],
)
def test_damaged_file(tmp_path, damage, message):
    path, data = _written(tmp_path)
    path.write_text(damage(path.read_text(), data))
    with pytest.raises(ValueError) as info:
        read_folds(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_or_binary_file(tmp_path):
    with pytest.raises(ValueError, match="folds file cannot be read"):
        read_folds(tmp_path / FOLDS_FILE)
    (tmp_path / FOLDS_FILE).write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="damaged folds file"):
        read_folds(tmp_path / FOLDS_FILE)


def test_importing_folds_imports_no_tensorflow():
    code = "import sys, aufera.folds; print('tensorflow' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"
