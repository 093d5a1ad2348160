"""Synthetic identities: morphs of real face photographs on a 3D head.

An identity is a set of parameters (which photographs, how they are blended,
face shape and feature positions, skin tone, contrast, head shape, lighting,
background) drawn from a seed. `build_identity` turns them into the assets the
renderer needs, in *texture space*: a square image of the head in which the
subject's landmarks sit at fixed places, a height map of the head surface and
its normals.

Texture space: a 256x256 grid (`TEXTURE_SIZE`) in which the mean face of the
photographs has its eyes 56 px apart (`CANONICAL_IOD`). Normalised face
coordinates (see `aufera.au`) map to texture space through each subject's own
eyes and mouth corners (`FaceFrame`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from aufera.synth.photos import LANDMARKS, PHOTOS, mirror

TEXTURE_SIZE = 256
CANONICAL_IOD = 56.0
_EYE_L = np.array([100.0, 100.0])  # where the mean face's left eye sits in texture space
_LM = {name: i for i, name in enumerate(LANDMARKS)}


@dataclass(frozen=True)
class FaceFrame:
    """The affine frame of normalised face coordinates of one face.

    A point (x, y) in normalised face coordinates lies at
    ``origin + x * ex + y * ey``: x = 0 and 1 are the left and right eye
    centres, y = 0 the eye line and y = 1 the line of the mouth corners.
    """

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> FaceFrame:
        eye_l, eye_r = points[_LM["eye_l"]], points[_LM["eye_r"]]
        mouth = 0.5 * (points[_LM["mouth_l"]] + points[_LM["mouth_r"]])
        return cls(
            np.asarray(eye_l, float), np.asarray(eye_r - eye_l, float), np.asarray(mouth - 0.5 * (eye_l + eye_r), float)
        )

    def to_pixels(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return self.origin + xy[..., :1] * self.ex + xy[..., 1:2] * self.ey

    def to_normalised(self, points) -> np.ndarray:
        basis = np.stack([self.ex, self.ey], axis=1)
        return np.linalg.solve(basis, (np.asarray(points, float) - self.origin).T).T

    @property
    def iod(self) -> float:
        return float(np.linalg.norm(self.ex))


@lru_cache(maxsize=1)
def canonical_landmarks() -> np.ndarray:
    """The mean face of the photographs (and their mirror images), in texture space."""
    normalised = []
    for photo in PHOTOS:
        points = np.asarray(photo.landmarks, dtype=np.float64)
        normalised.append(FaceFrame.from_landmarks(points).to_normalised(points))
        mirrored = points[list(_mirror_order())].copy()
        mirrored[:, 0] = -mirrored[:, 0]
        normalised.append(FaceFrame.from_landmarks(mirrored).to_normalised(mirrored))
    mean = np.mean(normalised, axis=0)
    frame = FaceFrame(_EYE_L, np.array([CANONICAL_IOD, 0.0]), np.array([0.0, CANONICAL_IOD]))
    return frame.to_pixels(mean)


def _mirror_order():
    from aufera.synth.photos import MIRROR_ORDER

    return MIRROR_ORDER


@dataclass
class IdentityParams:
    """Everything that makes one synthetic subject, drawn from a seed.

    Args:
        photo: str. Name of the main photograph.
        mirrored: bool. Whether the photographs are mirrored left-right.
        blend_photo: str. Name of the photograph morphed in.
        blend: float. Weight of `blend_photo` in the cross-dissolve (0-0.45).
        shape: dict. Landmark offsets in texture pixels (face shape and feature
            positions).
        tone: list of 3 floats. Shift of L*, a*, b* (skin tone).
        contrast: float. Contrast gain around mid-grey.
        gamma: float. Gamma of the texture.
        depth: float. Depth of the head relative to the mean head.
        nose: float. Height of the nose relative to the mean nose.
        light: list of 3 floats. Key light azimuth and elevation (degrees) and
            its strength (0-1).
        background: list of 2 RGB triples. Top and bottom background colours.
        clothing: list of 3 floats. RGB colour of the clothes.
    """

    photo: str
    mirrored: bool
    blend_photo: str
    blend: float
    shape: dict = field(default_factory=dict)
    tone: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    contrast: float = 1.0
    gamma: float = 1.0
    depth: float = 1.0
    nose: float = 1.0
    light: list = field(default_factory=lambda: [0.0, 30.0, 0.3])
    background: list = field(default_factory=lambda: [[0.5, 0.5, 0.5], [0.4, 0.4, 0.4]])
    clothing: list = field(default_factory=lambda: [0.2, 0.2, 0.3])

    def to_dict(self) -> dict:
        return asdict(self)


# Landmark moves that give a subject its face shape: name -> (landmark
# offsets per unit, in texture px as {landmark: (dx, dy)}, spread of the unit).
_SHAPE_MODES = {
    "eye_spacing": ({"eye_l": (-2, 0), "eye_r": (2, 0), "brow_l_outer": (-2, 0), "brow_r_outer": (2, 0)}, 1.5),
    "eye_height": (
        {
            "eye_l": (0, 1),
            "eye_r": (0, 1),
            "brow_l_inner": (0, 1),
            "brow_r_inner": (0, 1),
            "brow_l_outer": (0, 1),
            "brow_r_outer": (0, 1),
        },
        2.0,
    ),
    "brow_height": (
        {"brow_l_inner": (0, -1), "brow_r_inner": (0, -1), "brow_l_outer": (0, -1), "brow_r_outer": (0, -1)},
        3.0,
    ),
    "nose_length": ({"nose": (0, 1)}, 3.0),
    "mouth_width": ({"mouth_l": (-1, 0), "mouth_r": (1, 0)}, 3.0),
    "mouth_height": ({"mouth_l": (0, 1), "mouth_r": (0, 1)}, 2.5),
    "chin": ({"chin": (0, 1), "jaw_l": (0, 0.5), "jaw_r": (0, 0.5)}, 6.0),
    "face_width": ({"side_l": (-1, 0), "side_r": (1, 0), "jaw_l": (-1, 0), "jaw_r": (1, 0)}, 6.0),
    "forehead": ({"forehead": (0, -1)}, 5.0),
}


def sample_identity(rng: np.random.Generator, index: int) -> IdentityParams:
    """Draws one subject's parameters. `index` alternates the main photograph
    so that subjects spread evenly over the photographs."""
    names = [p.name for p in PHOTOS]
    photo = names[index % len(names)]
    others = [n for n in names if n != photo]
    blend = float(rng.choice([0.0, rng.uniform(0.15, 0.35)]))
    shape = {
        mode: float(np.clip(rng.normal(0.0, 1.0), -2.0, 2.0) * spread) for mode, (_, spread) in _SHAPE_MODES.items()
    }
    light_azimuth = float(rng.uniform(-45, 45))
    base = np.clip(rng.uniform(0.2, 0.8) + rng.normal(0.0, 0.07, size=3), 0.05, 0.95)
    bottom = np.clip(base * rng.uniform(0.6, 1.0) + rng.normal(0, 0.05, size=3), 0, 1)
    return IdentityParams(
        photo=photo,
        mirrored=bool(rng.integers(0, 2)),
        blend_photo=str(rng.choice(others)) if others else photo,
        blend=blend,
        shape=shape,
        tone=[float(rng.normal(0, 6)), float(rng.normal(0, 4)), float(rng.normal(0, 6))],
        contrast=float(rng.uniform(0.8, 1.2)),
        gamma=float(rng.uniform(0.85, 1.15)),
        depth=float(rng.uniform(0.85, 1.15)),
        nose=float(rng.uniform(0.8, 1.2)),
        light=[light_azimuth, float(rng.uniform(15, 50)), float(rng.uniform(0.15, 0.45))],
        background=[[float(c) for c in base], [float(c) for c in bottom]],
        clothing=[float(c) for c in rng.uniform(0.05, 0.6, size=3)],
    )


def subject_landmarks(params: IdentityParams) -> np.ndarray:
    """The subject's landmarks in texture space (canonical + face shape)."""
    points = canonical_landmarks().copy()
    for mode, amount in params.shape.items():
        moves, spread = _SHAPE_MODES[mode]
        for name, (dx, dy) in moves.items():
            points[_LM[name]] += np.array([dx, dy]) * amount / spread
    return points


def _tps_map(target: np.ndarray, source: np.ndarray, size: int, reg: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Thin-plate spline taking texture points `target` to photo points `source`,
    evaluated on the size x size texture grid (the inverse map for cv2.remap)."""

    def kernel(r2):
        with np.errstate(divide="ignore", invalid="ignore"):
            k = 0.5 * r2 * np.log(r2)
        return np.nan_to_num(k)

    n = len(target)
    d2 = ((target[:, None, :] - target[None, :, :]) ** 2).sum(-1)
    p = np.hstack([np.ones((n, 1)), target])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(d2) + reg * np.eye(n)
    system[:n, n:] = p
    system[n:, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = source
    coef = np.linalg.solve(system, rhs)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    g2 = ((grid[:, None, :] - target[None, :, :]) ** 2).sum(-1)
    mapped = kernel(g2) @ coef[:n] + np.hstack([np.ones((len(grid), 1)), grid]) @ coef[n:]
    return mapped[:, 0].reshape(size, size).astype(np.float32), mapped[:, 1].reshape(size, size).astype(np.float32)


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2x3) taking `source` points to `target`."""
    matrix, _ = cv2.estimateAffinePartial2D(source.astype(np.float32), target.astype(np.float32), method=cv2.LMEDS)
    return matrix


def _aligned_photo(name: str, mirrored: bool, target: np.ndarray) -> np.ndarray:
    photo = next(p for p in PHOTOS if p.name == name)
    image, points = photo.load()
    if mirrored:
        image, points = mirror(image, points)
    # Anchor the far field with a similarity so that the spline stays tame
    # away from the face.
    to_photo = _similarity(target, points)
    ring = np.array([[0, 0], [128, 0], [255, 0], [255, 128], [255, 255], [128, 255], [0, 255], [0, 128]], float)
    ring = (ring - 128.0) * 1.6 + 128.0
    ring_src = ring @ to_photo[:, :2].T + to_photo[:, 2]
    map_x, map_y = _tps_map(np.vstack([target, ring]), np.vstack([points, ring_src]), TEXTURE_SIZE)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _apply_tone(rgb: np.ndarray, params: IdentityParams) -> np.ndarray:
    rgb = np.clip(rgb, 0, 1) ** params.gamma
    rgb = np.clip(0.5 + (rgb - 0.5) * params.contrast, 0, 1).astype(np.float32)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab += np.asarray(params.tone, dtype=np.float32)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1)


@dataclass
class IdentityAssets:
    """Texture-space assets of one subject, at TEXTURE_SIZE resolution.

    Attributes:
        params: IdentityParams.
        landmarks: (15, 2) landmarks in texture space.
        frame: FaceFrame of the landmarks.
        texture: (256, 256, 3) float32 RGB in [0, 1].
        height: (256, 256) float32 height of the head surface towards the
            camera (texture pixels); -1000 outside the head.
        centre: (u0, v0) of the head ellipsoid, the pivot of head rotation
            lies `pivot_depth` behind it.
        pivot_depth: float.
    """

    params: IdentityParams
    landmarks: np.ndarray
    frame: FaceFrame
    texture: np.ndarray
    height: np.ndarray
    centre: tuple[float, float]
    pivot_depth: float


OUTSIDE_HEAD = -1000.0
HEAD_DEPTH = 1.1  # depth of the head in eye distances
HEAD_SIDE_MARGIN = 0.3  # head half-width beyond the face sides, in eye distances
HEAD_EXPONENT = 3.0  # 2 is an ellipsoid; larger is flatter in front


def _gauss(xs, ys, cx, cy, sx, sy):
    return np.exp(-0.5 * (((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2))


def head_height(landmarks: np.ndarray, depth: float = 1.0, nose: float = 1.0):
    """Height map of the head surface in texture space.

    The head is the front half of a super-ellipsoid around the face, with a nose
    ridge and tip, eye sockets, brow ridge, lips and chin modelled as smooth
    bumps placed at the subject's landmarks.
    """
    frame = FaceFrame.from_landmarks(landmarks)
    iod = frame.iod
    ys, xs = np.mgrid[0:TEXTURE_SIZE, 0:TEXTURE_SIZE].astype(np.float32)
    lm = {name: landmarks[i] for i, name in enumerate(LANDMARKS)}
    u0 = 0.5 * (lm["side_l"][0] + lm["side_r"][0])
    top, bottom = lm["forehead"][1] - 0.5 * iod, lm["chin"][1] + 0.3 * iod
    v0 = 0.5 * (top + bottom)
    ax = 0.5 * (lm["side_r"][0] - lm["side_l"][0]) + HEAD_SIDE_MARGIN * iod
    ay = 0.5 * (bottom - top)
    az = HEAD_DEPTH * iod * depth
    r2 = ((xs - u0) / ax) ** 2 + ((ys - v0) / ay) ** 2
    inside = r2 < 1.0
    # A super-ellipsoid: flatter across the front of the face than an
    # ellipsoid, curving away faster at the sides, as a face does.
    r = np.sqrt(np.clip(r2, 0.0, 1.0))
    height = az * np.clip(1.0 - r**HEAD_EXPONENT, 0.0, None) ** (1.0 / HEAD_EXPONENT)
    eye_mid = 0.5 * (lm["eye_l"] + lm["eye_r"])
    # Nose: a ridge from between the eyes to the tip, then the tip itself.
    nose_len = lm["nose"][1] - eye_mid[1]
    ridge_t = np.clip((ys - eye_mid[1]) / max(nose_len, 1.0), 0.0, 1.0)
    ridge = np.exp(-0.5 * ((xs - (eye_mid[0] + (lm["nose"][0] - eye_mid[0]) * ridge_t)) / (0.1 * iod)) ** 2)
    ridge *= np.where((ys > eye_mid[1] - 0.1 * iod) & (ys < lm["nose"][1]), ridge_t, 0.0)
    bumps = 0.24 * iod * nose * (0.6 * ridge + _gauss(xs, ys, *lm["nose"], 0.2 * iod, 0.15 * iod))
    for eye in ("eye_l", "eye_r"):
        bumps -= 0.1 * iod * _gauss(xs, ys, *lm[eye], 0.22 * iod, 0.14 * iod)
    brow_y = 0.5 * (lm["brow_l_inner"][1] + lm["brow_r_inner"][1])
    bumps += 0.06 * iod * _gauss(xs, ys, eye_mid[0], brow_y, 0.8 * iod, 0.12 * iod)
    mouth = 0.5 * (lm["mouth_l"] + lm["mouth_r"])
    bumps += 0.08 * iod * _gauss(xs, ys, mouth[0], mouth[1], 0.45 * iod, 0.18 * iod)
    bumps += 0.08 * iod * _gauss(xs, ys, *lm["chin"], 0.3 * iod, 0.2 * iod)
    height = np.where(inside, height + bumps * np.clip((1.0 - r2) * 4.0, 0.0, 1.0), OUTSIDE_HEAD)
    return height.astype(np.float32), (float(u0), float(v0)), float(0.6 * az)


def _cover_head_sides(texture: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Replaces what lies around the face oval (the photograph's own background,
    which would streak across the sides of the head in turned views) by hair:
    the colour found above the forehead, with a soft edge and some texture."""
    frame = FaceFrame.from_landmarks(landmarks)
    iod = frame.iod
    lm = {name: landmarks[i] for i, name in enumerate(LANDMARKS)}
    ys, xs = np.mgrid[0:TEXTURE_SIZE, 0:TEXTURE_SIZE].astype(np.float32)
    top, bottom = lm["forehead"][1] - 0.3 * iod, lm["chin"][1] + 0.1 * iod
    cx, cy = 0.5 * (lm["side_l"][0] + lm["side_r"][0]), 0.5 * (top + bottom)
    rx, ry = 0.5 * (lm["side_r"][0] - lm["side_l"][0]) + 0.05 * iod, 0.5 * (bottom - top)
    oval = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1.0).astype(np.float32)
    soft = cv2.GaussianBlur(oval, (0, 0), 0.12 * iod)[..., None]
    band = texture[int(top - 0.35 * iod) : int(top), int(cx - 0.5 * iod) : int(cx + 0.5 * iod)]
    hair = np.median(band.reshape(-1, 3), axis=0) if band.size else np.array([0.3, 0.25, 0.2])
    grain = cv2.GaussianBlur(texture.mean(-1), (0, 0), 2.0) - cv2.GaussianBlur(texture.mean(-1), (0, 0), 6.0)
    fill = np.clip(hair + 0.8 * grain[..., None], 0, 1)
    return (soft * texture + (1 - soft) * fill).astype(np.float32)


def build_identity(params: IdentityParams) -> IdentityAssets:
    """Builds the texture-space assets of one subject."""
    landmarks = subject_landmarks(params)
    texture = _aligned_photo(params.photo, params.mirrored, landmarks)
    if params.blend > 0:
        other = _aligned_photo(params.blend_photo, not params.mirrored, landmarks)
        texture = (1.0 - params.blend) * texture + params.blend * other
    texture = _apply_tone(_cover_head_sides(texture.astype(np.float32), landmarks), params)
    height, centre, pivot = head_height(landmarks, params.depth, params.nose)
    return IdentityAssets(
        params=params,
        landmarks=landmarks,
        frame=FaceFrame.from_landmarks(landmarks),
        texture=texture,
        height=height,
        centre=centre,
        pivot_depth=pivot,
    )
