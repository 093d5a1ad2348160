"""The synthetic corpus's labels: base rates, correlations, episodes, unknowns."""

import numpy as np
import pytest

from aufera.au import AU_NUMBERS, FERA2017_TRAIN_BASE_RATES
from aufera.synth import episodes
from aufera.synth.config import SynthConfig
from aufera.synth.writer import label_file_text, plan, subject_id


def _split_arrays(sessions, split):
    chosen = [s for s in sessions if s.split.name == split]
    return (
        np.concatenate([s.occurrence for s in chosen]),
        np.concatenate([s.labels for s in chosen]),
        np.concatenate([s.levels for s in chosen]),
        chosen,
    )


@pytest.fixture(scope="module")
def big_plan():
    config = SynthConfig(train_subjects=20, valid_subjects=10, tasks=4, frames=300, seed=3)
    return config, plan(config)


def test_base_rates_match_per_split(big_plan):
    config, (_, sessions, _) = big_plan
    for split in ("train", "validation"):
        occurrence, _, _, _ = _split_arrays(sessions, split)
        rates = (occurrence == 1).mean(axis=0)
        # Thresholds sit on the empirical quantiles: rates are exact up to one frame.
        np.testing.assert_allclose(rates, FERA2017_TRAIN_BASE_RATES, atol=1.5 / len(occurrence))


def test_paper_correlations(big_plan):
    _, (_, sessions, _) = big_plan
    occurrence, _, _, _ = _split_arrays(sessions, "train")
    phi = np.corrcoef((occurrence == 1).T.astype(float))

    def r(a, b):
        return phi[AU_NUMBERS.index(a), AU_NUMBERS.index(b)]

    assert r(6, 12) > 0.35
    assert r(12, 15) < -0.15
    assert r(17, 15) > 0.2
    assert r(17, 23) > 0.2


def test_episodes_are_temporally_coherent(big_plan):
    _, (_, sessions, _) = big_plan
    changes, expected_iid = [], []
    for s in sessions:
        present = s.occurrence == 1
        changes.append((present[1:] != present[:-1]).mean(axis=0))
        p = present.mean(axis=0)
        expected_iid.append(2 * p * (1 - p))
    # Independent frames with the same rates would switch 2p(1-p) of the time.
    assert np.mean(changes) < 0.35 * np.mean(expected_iid)
    # Intensity rises to an apex and falls again: consecutive levels differ little.
    steps = np.concatenate([np.abs(np.diff(s.levels, axis=0)).ravel() for s in sessions])
    assert np.median(steps) < 0.25
    levels = np.concatenate([s.levels for s in sessions])
    assert levels.max() == 5.0 and (levels[levels >= 1] < 2).any()


def test_occurrence_follows_intensity(big_plan):
    _, (_, sessions, _) = big_plan
    for s in sessions[:5]:
        np.testing.assert_array_equal(s.occurrence == 1, s.levels >= 1.0)
    config = SynthConfig(train_subjects=4, valid_subjects=2, tasks=2, frames=200, present_from=3.0, seed=1)
    _, sessions, _ = plan(config)
    occurrence, _, levels, _ = _split_arrays(sessions, "train")
    np.testing.assert_array_equal(occurrence == 1, levels >= 3.0)
    np.testing.assert_allclose((occurrence == 1).mean(0), FERA2017_TRAIN_BASE_RATES, atol=1.5 / len(occurrence))


def test_unknown_labels_share_and_runs(big_plan):
    _, (_, sessions, _) = big_plan
    occurrence, labels, _, _ = _split_arrays(sessions, "train")
    unknown = labels == 0
    assert 0.01 < unknown.mean() < 0.035
    # Unknowns replace labels and nothing else.
    np.testing.assert_array_equal(labels[~unknown], occurrence[~unknown])
    # They come in runs: an unknown frame is followed by another far more often than chance.
    s = sessions[0]
    u = np.concatenate([x.labels == 0 for x in sessions])
    follow = (u[1:] & u[:-1]).sum() / max(u[:-1].sum(), 1)
    assert follow > 0.3, s.name


def test_subject_ids_and_disjoint_splits():
    config = SynthConfig(train_subjects=3, valid_subjects=2, tasks=1, frames=5)
    subjects, sessions, _ = plan(config)
    assert [subject_id(i) for i in range(4)] == ["F001", "M001", "F002", "M002"]
    train = {sid for sid, (split, _) in subjects.items() if split == "train"}
    valid = {sid for sid, (split, _) in subjects.items() if split == "validation"}
    assert train == {"F001", "M001", "F002"} and valid == {"M002", "F003"}
    # Distinct identities: no two subjects share their parameters.
    params = [p.to_dict() for _, p in subjects.values()]
    assert all(params[i] != params[j] for i in range(5) for j in range(i))


def test_label_file_text_codes():
    config = SynthConfig(train_subjects=1, valid_subjects=1, tasks=1, frames=6, unknown_rate=0.3, seed=2)
    _, sessions, _ = plan(config)
    s = sessions[0]
    lines = label_file_text(s).splitlines()
    assert lines[0] == "Frame,AU01,AU04,AU06,AU07,AU10,AU12,AU14,AU15,AU17,AU23"
    assert len(lines) == 7
    rows = np.array([[int(x) for x in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(rows[:, 0], np.arange(s.first_frame, s.first_frame + 6))
    expected = np.select([s.labels == 1, s.labels == -1], [1, 0], default=9)
    np.testing.assert_array_equal(rows[:, 1:], expected)
    assert (rows[:, 1:] == 9).any()


def test_correlation_matrix_must_be_positive_definite():
    with pytest.raises(ValueError, match="positive definite"):
        episodes.au_correlation({(6, 12): 0.99, (12, 15): -0.99, (6, 15): 0.99})


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="frames=0"):
        SynthConfig(frames=0)
    with pytest.raises(ValueError, match="base_rates"):
        SynthConfig(base_rates=(0.5,) * 9)
    with pytest.raises(ValueError, match="present_from"):
        SynthConfig(present_from=6)
