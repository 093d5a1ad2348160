"""Rendering of the synthetic corpus: 3D views and AUs in their FACS regions."""

import json

import numpy as np
import pytest

from aufera.au import ACTION_UNITS, NUM_AUS
from aufera.synth import writer
from aufera.synth.actions import magnitude
from aufera.synth.config import SynthConfig
from aufera.synth.identity import sample_identity
from aufera.synth.preview import _still_motion

FRONTAL = 4  # view 5


@pytest.fixture(scope="module", params=[0, 1])
def scene(request):
    config = SynthConfig(size=128)
    index = request.param
    params = sample_identity(np.random.default_rng([index, 1]), index)
    return config, writer._scene(
        json.dumps(params.to_dict(), sort_keys=True),
        config.size,
        config.face_scale,
        config.yaws,
        config.pitches,
        (0, index),
    )


def _render(scene_and_config, levels=None):
    config, scene = scene_and_config
    levels = np.zeros(NUM_AUS, np.float32) if levels is None else levels
    return writer.render_frame(scene, config, levels, _still_motion(), 0, rng=None)


def test_views_are_head_rotations_not_shifts(scene):
    _, _, keys, _ = _render(scene)
    eye_gap = np.linalg.norm(keys[:, 1] - keys[:, 0], axis=1)
    # Turning the head by 40 degrees shortens the distance between the eyes by
    # about cos(40) = 0.77; a flat shift of the picture would keep it.
    for view in (3, 5):  # views 4 and 6: yaw -40 and +40, pitch 0
        assert 0.6 < eye_gap[view] / eye_gap[FRONTAL] < 0.9

    # The nose tip sticks out of the face, so it moves across the face when the
    # head turns: positive yaw turns the face (and the nose) towards image right.
    def nose_offset(v):
        return (keys[v, 2, 0] - keys[v, :2, 0].mean()) / eye_gap[v]

    assert nose_offset(5) > nose_offset(FRONTAL) + 0.15
    assert nose_offset(3) < nose_offset(FRONTAL) - 0.15

    # Pitching the face up brings the protruding nose tip closer to the eye line.
    def nose_drop(v):
        return keys[v, 2, 1] - keys[v, :2, 1].mean()

    assert nose_drop(7) < 0.85 * nose_drop(FRONTAL)  # view 8: pitch +20
    assert nose_drop(1) > 1.05 * nose_drop(FRONTAL)  # view 2: pitch -20


def test_faces_are_centred_and_inside_the_frame(scene):
    config, _ = scene
    _, boxes, _, _ = _render(scene)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.all(np.abs(centres - config.size / 2) < 0.12 * config.size)
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= config.size)


def test_each_au_changes_pixels_mainly_in_its_own_region(scene):
    config, _ = scene
    neutral, _, keys, _ = _render(scene)
    # Normalised face coordinates of every pixel of the frontal view, from the
    # projected eyes and mouth corners.
    k = keys[FRONTAL]
    origin, ex, ey = k[0], k[1] - k[0], (k[3] + k[4]) / 2 - (k[0] + k[1]) / 2
    ys, xs = np.mgrid[0 : config.size, 0 : config.size].astype(float)
    xy = np.linalg.solve(np.stack([ex, ey], 1), np.stack([xs.ravel() - origin[0], ys.ravel() - origin[1]]))
    nx, ny = xy[0].reshape(xs.shape), xy[1].reshape(xs.shape)
    totals = []
    for i, unit in enumerate(ACTION_UNITS):
        levels = np.zeros(NUM_AUS, np.float32)
        levels[i] = 5.0
        apex, _, _, _ = _render(scene, levels)
        diff = np.abs(apex[FRONTAL].astype(float) - neutral[FRONTAL].astype(float)).sum(-1)
        x0, y0, x1, y1 = unit.box
        inside = (nx >= x0) & (nx <= x1) & (ny >= y0) & (ny <= y1)
        share = diff[inside].sum() / diff.sum()
        assert share >= 0.8, f"{unit.key}: only {share:.2f} of the change lies in {unit.region}"
        totals.append(diff.sum())
        # The region is a part of the face, not all of it.
        assert inside.mean() < 0.2
    assert min(totals) > 0.1 * max(totals)


def test_aus_combine_and_intensity_is_graded(scene):
    neutral, _, _, _ = _render(scene)

    def change(levels):
        image, _, _, _ = _render(scene, np.asarray(levels, np.float32))
        return np.abs(image[FRONTAL].astype(float) - neutral[FRONTAL].astype(float)).sum()

    au12 = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    low, high = change(np.multiply(au12, 1.0)), change(np.multiply(au12, 5.0))
    assert 0 < low < 0.7 * high
    both = change([0, 0, 5, 0, 0, 5, 0, 0, 0, 0])
    assert both > 1.2 * max(change([0, 0, 5, 0, 0, 0, 0, 0, 0, 0]), high)


def test_a_present_au_shows_clearly_more_than_an_absent_onset(scene):
    # Level 1 (A) is the first level coded present; just below it the AU is
    # coded absent and must show far less (actions.magnitude: 0.1 x level below
    # A, 0.5 at A, 1.0 at E).
    np.testing.assert_allclose(magnitude([0.0, 0.5, 0.99, 1.0, 3.0, 5.0]), [0, 0.05, 0.099, 0.5, 0.75, 1.0], atol=1e-6)
    neutral, _, _, _ = _render(scene)
    for i in range(NUM_AUS):
        changes = []
        for level in (0.99, 1.0):
            levels = np.zeros(NUM_AUS, np.float32)
            levels[i] = level
            image, _, _, _ = _render(scene, levels)
            changes.append(np.abs(image[FRONTAL].astype(float) - neutral[FRONTAL].astype(float)).sum())
        assert changes[0] < 0.35 * changes[1], f"{ACTION_UNITS[i].key}: {changes}"
