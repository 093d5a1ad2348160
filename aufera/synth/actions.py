"""Action units rendered as the appearance changes FACS describes.

Each AU is a set of smooth displacements of the skin (the texture moves) and
shading marks (furrows, wrinkles, dimples darken; bulges brighten), placed in
normalised face coordinates (`aufera.au`) of the subject, so they land on the
subject's own brows, eyes, cheeks, lips and chin. At rendering time the
fields of all active AUs are scaled by their magnitude and added, so AUs
combine in one frame.

Normalised units: one unit of x is the distance between the eye centres, one
unit of y the distance from the eye line to the mouth-corner line.

References:
    Ekman, Friesen and Hager 2002, FACS manual: appearance changes of AU1,
    AU4, AU6, AU7, AU10, AU12, AU14, AU15, AU17 and AU23.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aufera.au import AU_NUMBERS

# A push: (x, y, sigma_x, sigma_y, dx, dy), all in normalised units; the skin
# around (x, y) moves by (dx, dy) at full magnitude, falling off as a Gaussian.
# A mark: (polyline points, width, strength): a shading stroke along the
# polyline, darker for negative strength, brighter for positive. A single point
# with a width is a round blob. Widths are at least 0.05 (about 1.5 px at the
# default frame size): thinner lines vanish in resampling and MPEG-4 coding.
_PUSHES: dict[int, list[tuple]] = {
    # AU1: the inner brows rise.
    1: [(0.3, -0.35, 0.2, 0.2, 0.0, -0.2), (0.7, -0.35, 0.2, 0.2, 0.0, -0.2)],
    # AU4: the brows lower and are drawn together.
    4: [(0.15, -0.35, 0.3, 0.2, 0.09, 0.12), (0.85, -0.35, 0.3, 0.2, -0.09, 0.12)],
    # AU6: the cheeks rise and push the lower lids up, narrowing the eyes from below.
    6: [
        (-0.05, 0.45, 0.3, 0.17, 0.0, -0.14),
        (1.05, 0.45, 0.3, 0.17, 0.0, -0.14),
        (0.0, 0.15, 0.22, 0.08, 0.0, -0.06),
        (1.0, 0.15, 0.22, 0.08, 0.0, -0.06),
    ],
    # AU7: the lids tighten: lower lids rise and straighten, upper lids drop a little.
    7: [
        (0.0, 0.1, 0.2, 0.06, 0.0, -0.1),
        (1.0, 0.1, 0.2, 0.06, 0.0, -0.1),
        (0.0, -0.1, 0.2, 0.05, 0.0, 0.05),
        (1.0, -0.1, 0.2, 0.05, 0.0, 0.05),
    ],
    # AU10: the upper lip rises; the nose wings lift.
    10: [(0.5, 0.85, 0.35, 0.12, 0.0, -0.14), (0.32, 0.6, 0.12, 0.1, 0.0, -0.06), (0.68, 0.6, 0.12, 0.1, 0.0, -0.06)],
    # AU12: the lip corners are pulled up and out.
    12: [(0.1, 1.0, 0.18, 0.15, -0.1, -0.14), (0.9, 1.0, 0.18, 0.15, 0.1, -0.14)],
    # AU14: the lip corners tighten inwards and dimple.
    14: [(0.08, 1.0, 0.12, 0.12, 0.07, -0.03), (0.92, 1.0, 0.12, 0.12, -0.07, -0.03)],
    # AU15: the lip corners are pulled down.
    15: [(0.1, 1.0, 0.16, 0.15, -0.02, 0.22), (0.9, 1.0, 0.16, 0.15, 0.02, 0.22)],
    # AU17: the chin boss pushes up and the lower lip with it.
    17: [(0.5, 1.55, 0.3, 0.2, 0.0, -0.18), (0.5, 1.15, 0.25, 0.08, 0.0, -0.09)],
    # AU23: the lips tighten and narrow.
    23: [
        (0.5, 0.9, 0.3, 0.06, 0.0, 0.1),
        (0.5, 1.12, 0.3, 0.06, 0.0, -0.1),
        (0.1, 1.0, 0.1, 0.1, 0.08, 0.0),
        (0.9, 1.0, 0.1, 0.1, -0.08, 0.0),
    ],
}

_MARKS: dict[int, list[tuple]] = {
    1: [
        ([(0.15, -0.62), (0.5, -0.68), (0.85, -0.62)], 0.05, -0.252),
        ([(0.2, -0.8), (0.5, -0.86), (0.8, -0.8)], 0.05, -0.21),
    ],
    4: [
        ([(0.42, -0.55), (0.44, -0.15)], 0.05, -0.42),
        ([(0.58, -0.55), (0.56, -0.15)], 0.05, -0.42),
        ([(0.5, -0.32)], 0.15, -0.112),
    ],
    6: [
        ([(-0.3, -0.05), (-0.5, -0.12)], 0.05, -0.308),
        ([(-0.3, 0.05), (-0.5, 0.1)], 0.05, -0.308),
        ([(1.3, -0.05), (1.5, -0.12)], 0.05, -0.308),
        ([(1.3, 0.05), (1.5, 0.1)], 0.05, -0.308),
        ([(0.0, 0.45)], 0.18, 0.14),
        ([(1.0, 0.45)], 0.18, 0.14),
    ],
    7: [([(-0.2, 0.1), (0.0, 0.14), (0.2, 0.1)], 0.05, -0.42), ([(0.8, 0.1), (1.0, 0.14), (1.2, 0.1)], 0.05, -0.42)],
    10: [
        ([(0.3, 0.55), (0.18, 0.78), (0.12, 0.98)], 0.05, -0.35),
        ([(0.7, 0.55), (0.82, 0.78), (0.88, 0.98)], 0.05, -0.35),
    ],
    12: [
        ([(0.25, 0.55), (0.08, 0.8), (-0.02, 1.08)], 0.05, -0.28),
        ([(0.75, 0.55), (0.92, 0.8), (1.02, 1.08)], 0.05, -0.28),
        ([(-0.1, 0.6)], 0.15, 0.14),
        ([(1.1, 0.6)], 0.15, 0.14),
    ],
    14: [
        ([(0.0, 1.02)], 0.06, -0.7),
        ([(1.0, 1.02)], 0.06, -0.7),
        ([(-0.08, 0.95), (-0.04, 1.12)], 0.05, -0.42),
        ([(1.08, 0.95), (1.04, 1.12)], 0.05, -0.42),
    ],
    15: [
        ([(0.06, 1.08), (0.0, 1.35)], 0.05, -0.42),
        ([(0.94, 1.08), (1.0, 1.35)], 0.05, -0.42),
        ([(0.1, 1.2)], 0.08, -0.21),
        ([(0.9, 1.2)], 0.08, -0.21),
    ],
    17: [
        ([(0.25, 1.3), (0.5, 1.36), (0.75, 1.3)], 0.05, -0.35),
        ([(0.4, 1.55)], 0.05, -0.21),
        ([(0.6, 1.6)], 0.05, -0.21),
        ([(0.5, 1.7)], 0.05, -0.21),
        ([(0.5, 1.55)], 0.22, 0.112),
    ],
    23: [([(0.15, 1.0), (0.85, 1.0)], 0.05, -0.7), ([(0.5, 0.93)], 0.12, 0.168), ([(0.5, 1.08)], 0.12, 0.168)],
}


@dataclass
class AUField:
    """One AU's fields at full magnitude, on a window of texture space.

    Attributes:
        rows, cols: slices of the window in the texture.
        displacement: (2, h, w) float32 skin displacement (dx, dy) in texture pixels.
        shading: (h, w) float32 additive change of the shading gain.
    """

    rows: slice
    cols: slice
    displacement: np.ndarray
    shading: np.ndarray


def _segment_distance(xs, ys, p, q):
    d = q - p
    length2 = float(d @ d)
    if length2 == 0:
        return np.hypot(xs - p[0], ys - p[1])
    t = np.clip(((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / length2, 0.0, 1.0)
    return np.hypot(xs - (p[0] + t * d[0]), ys - (p[1] + t * d[1]))


def au_fields(frame, size: int) -> dict[int, AUField]:
    """Builds the fields of the 10 AUs for one face.

    Args:
        frame: FaceFrame of the subject in texture pixels (working resolution).
        size: int. Side of the square texture.

    Returns:
        {AU number: AUField}.
    """
    iod = frame.iod
    em = float(np.linalg.norm(frame.ey))
    fields = {}
    for number in AU_NUMBERS:
        pushes, marks = _PUSHES[number], _MARKS[number]
        # The window covers every push and mark with 3 sigma of margin.
        extents = []
        for x, y, sx, sy, _, _ in pushes:
            c = frame.to_pixels((x, y))
            extents.append((c[0] - 3 * sx * iod, c[1] - 3 * sy * em, c[0] + 3 * sx * iod, c[1] + 3 * sy * em))
        for points, width, _ in marks:
            pix = frame.to_pixels(np.asarray(points))
            margin = 3 * width * iod
            extents.append((*(pix.min(0) - margin), *(pix.max(0) + margin)))
        ext = np.array(extents)
        c0, r0 = np.floor(ext[:, :2].min(0)).astype(int)
        c1, r1 = np.ceil(ext[:, 2:].max(0)).astype(int) + 1
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, size), min(r1, size)
        ys, xs = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        disp = np.zeros((2,) + xs.shape, np.float32)
        for x, y, sx, sy, dx, dy in pushes:
            cx, cy = frame.to_pixels((x, y))
            weight = np.exp(-0.5 * (((xs - cx) / (sx * iod)) ** 2 + ((ys - cy) / (sy * em)) ** 2))
            shift = dx * frame.ex + dy * frame.ey
            disp[0] += weight * shift[0]
            disp[1] += weight * shift[1]
        shade = np.zeros(xs.shape, np.float32)
        for points, width, strength in marks:
            pix = frame.to_pixels(np.asarray(points, dtype=np.float64))
            if len(pix) == 1:
                dist = np.hypot(xs - pix[0][0], ys - pix[0][1])
            else:
                dist = np.min([_segment_distance(xs, ys, pix[i], pix[i + 1]) for i in range(len(pix) - 1)], axis=0)
            shade += strength * np.exp(-0.5 * (dist / (width * iod)) ** 2)
        fields[number] = AUField(slice(r0, r1), slice(c0, c1), disp, shade)
    return fields


def magnitude(level):
    """Rendering magnitude (0-1) of an AU at a FACS intensity level (0-5).

    Level 1 (A, trace) already shows half of the full change, so that every
    present AU is visible; level 5 (E) shows all of it, linearly in between.
    Levels below 1 (the start of an onset, the end of an offset, coded
    absent) show at most a tenth of it. The step at A keeps the coded label
    a matter of what the image shows: a FACS coder scores A only on visible
    evidence, so an absent frame must not look like a present one.
    """
    level = np.clip(np.asarray(level, dtype=np.float32), 0.0, 5.0)
    return np.where(level < 1.0, 0.1 * level, 0.5 + 0.5 * (level - 1.0) / 4.0).astype(np.float32)


def compose(fields: dict[int, AUField], magnitudes, size: int):
    """Adds the AU fields at their magnitudes.

    Args:
        fields: {AU number: AUField}.
        magnitudes: 10 floats in AU order.
        size: int. Side of the texture.

    Returns:
        (displacement (2, size, size), shading gain (size, size)), or
        (None, None) when no AU is active.
    """
    disp, gain = None, None
    for number, m in zip(AU_NUMBERS, magnitudes, strict=True):
        if m <= 0:
            continue
        if disp is None:
            disp = np.zeros((2, size, size), np.float32)
            gain = np.ones((size, size), np.float32)
        f = fields[number]
        disp[:, f.rows, f.cols] += m * f.displacement
        gain[f.rows, f.cols] += m * f.shading
    return disp, gain
