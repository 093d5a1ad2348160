"""Perspective rendering of a textured 3D head, by ray marching a height field.

The head surface is a height field over texture space (see
`aufera.synth.identity`). For every output pixel the renderer follows the
camera ray into the head frame and marches it against the height map until it
meets the surface, then samples the texture there. This gives a true rotation
of the head with perspective and self-occlusion (the nose hides the far cheek
at 40 degrees of yaw), not a flat shift of the picture.

Coordinates:
    The camera sits at the origin looking down +Z, image x to the right and y
    down. A head point at texture position (u, v) with height h is, relative
    to the pivot, Q = (u - u0, v - v0, h + pivot_depth) with Q_z pointing at
    the camera when the head is frontal. World position: P = R M Q s + T with
    M = diag(1, 1, -1), s the head scale and T = (tx, ty, distance).
    Positive yaw turns the face towards image right, positive pitch turns it
    up, positive roll turns it clockwise in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from aufera.synth.identity import OUTSIDE_HEAD

_M = np.diag([1.0, 1.0, -1.0])


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation matrix for angles in degrees (conventions in the module docstring)."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


@dataclass(frozen=True)
class Pose:
    """Head pose for one frame and view.

    Args:
        yaw, pitch, roll: float. Degrees.
        tx, ty: float. Head offset from the image centre, in texture units at
            the head's distance.
        scale: float. Head scale (1 = nominal size).
    """

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0


class HeadRenderer:
    """Renders one subject's head at a fixed frame size.

    Args:
        height: (H, W) float32 height map in texture space at working
            resolution (`OUTSIDE_HEAD` outside the head).
        centre: (u0, v0) head centre in working texture pixels.
        pivot_depth: float. Depth of the rotation pivot behind the surface base.
        size: int. Output frame size in pixels (square).
        texture_scale: float. Output pixels per working texture pixel at the
            nominal distance and scale.
        distance: float. Camera distance in working texture pixels; sets the
            strength of perspective.
        steps: int. Ray-marching steps.
    """

    def __init__(self, height, centre, pivot_depth, size, texture_scale, distance, steps=20):
        self.height = np.ascontiguousarray(height, dtype=np.float32)
        self.u0, self.v0 = float(centre[0]), float(centre[1])
        self.pivot = float(pivot_depth)
        self.size = int(size)
        self.distance = float(distance)
        self.focal = float(texture_scale) * self.distance
        self.steps = int(steps)
        inside = self.height > OUTSIDE_HEAD / 2
        rows, cols = np.nonzero(inside)
        self.hmax = float(self.height[inside].max())
        # Bounding box of the head in head coordinates, for the image region of interest.
        self.box = (cols.min() - self.u0, cols.max() + 1 - self.u0, rows.min() - self.v0, rows.max() + 1 - self.v0)
        gy, gx = np.gradient(np.where(inside, self.height, 0.0).astype(np.float32))
        normals = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
        self.normals = (normals / np.linalg.norm(normals, axis=-1, keepdims=True)).astype(np.float32)

    # === Geometry ===
    def _world(self, pose: Pose):
        rot = rotation(pose.yaw, pose.pitch, pose.roll)
        trans = np.array([pose.tx, pose.ty, self.distance])
        return rot, trans

    def project(self, pose: Pose, points_uvh: np.ndarray) -> np.ndarray:
        """Projects head points (u, v, h) in working texture pixels to image (x, y)."""
        pts = np.asarray(points_uvh, dtype=np.float64)
        q = np.stack([pts[..., 0] - self.u0, pts[..., 1] - self.v0, pts[..., 2] + self.pivot], axis=-1)
        rot, trans = self._world(pose)
        world = (q @ _M.T @ rot.T) * pose.scale + trans
        centre = self.size / 2.0
        return np.stack(
            [centre + self.focal * world[..., 0] / world[..., 2], centre + self.focal * world[..., 1] / world[..., 2]],
            axis=-1,
        )

    def surface_points(self, uv: np.ndarray) -> np.ndarray:
        """(u, v) -> (u, v, h) on the head surface (h sampled from the height map)."""
        uv = np.asarray(uv, dtype=np.float32)
        flat = uv.reshape(-1, 1, 2)
        h = cv2.remap(self.height, flat[..., 0], flat[..., 1], cv2.INTER_LINEAR, borderValue=OUTSIDE_HEAD)
        return np.concatenate([uv, np.maximum(h.reshape(uv.shape[:-1] + (1,)), 0.0)], axis=-1)

    def _roi(self, pose: Pose):
        u_lo, u_hi, v_lo, v_hi = self.box
        corners = np.array(
            [[u, v, h] for u in (u_lo, u_hi) for v in (v_lo, v_hi) for h in (0.0, self.hmax)], dtype=np.float64
        )
        corners[:, 0] += self.u0
        corners[:, 1] += self.v0
        xy = self.project(pose, corners)
        x0, y0 = np.floor(xy.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + 2
        return max(x0, 0), max(y0, 0), min(x1, self.size), min(y1, self.size)

    def trace(self, pose: Pose):
        """Casts the rays of the head's image region into texture space.

        Returns:
            (roi, u, v, hit): roi = (x0, y0, x1, y1) in the image; u, v float32
            texture coordinates of the surface point seen by each ROI pixel;
            hit, bool, whether the ray meets the head.
        """
        x0, y0, x1, y1 = self._roi(pose)
        if x1 <= x0 or y1 <= y0:
            empty = np.zeros((0, 0), np.float32)
            return (x0, y0, x0, y0), empty, empty, empty.astype(bool)
        rot, trans = self._world(pose)
        centre = self.size / 2.0
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        rays = np.stack([(xs + 0.5 - centre) / self.focal, (ys + 0.5 - centre) / self.focal, np.ones_like(xs)])
        inv = _M @ rot.T / pose.scale
        a = np.tensordot(inv, rays, axes=1)  # Q = lam * a + b
        b = -(inv @ trans)
        kx = (a[0] / a[2]).astype(np.float32)
        ky = (a[1] / a[2]).astype(np.float32)
        u_off, v_off = np.float32(self.u0), np.float32(self.v0)
        # Along a ray, X(qz) = b_x + (qz - b_z) * a_x / a_z; written as bx + qz * kx in texture pixels.
        bx = np.float32(b[0]) - np.float32(b[2]) * kx + u_off
        by = np.float32(b[1]) - np.float32(b[2]) * ky + v_off

        def gap(qz):
            u = bx + qz * kx
            v = by + qz * ky
            h = cv2.remap(self.height, u, v, cv2.INTER_LINEAR, borderValue=OUTSIDE_HEAD)
            return qz - self.pivot - h, u, v

        shape = kx.shape
        hit = np.zeros(shape, bool)
        q_prev = np.zeros(shape, np.float32)
        g_prev = np.zeros(shape, np.float32)
        q_hit = np.zeros(shape, np.float32)
        g_hit = np.zeros(shape, np.float32)
        levels = np.linspace(self.hmax + self.pivot + 1.0, self.pivot, self.steps + 1, dtype=np.float32)
        last_q, last_g = levels[0], None
        for level in levels:
            g, _, _ = gap(np.full(shape, level, np.float32))
            if last_g is not None:
                new = (~hit) & (g <= 0)
                q_prev[new], g_prev[new] = last_q, last_g[new]
                q_hit[new], g_hit[new] = level, g[new]
                hit |= new
            last_q, last_g = level, g
        # Refine the crossing by regula falsi inside its bracket.
        q = q_hit.copy()
        for _ in range(3):
            denom = np.where(hit, g_prev - g_hit, 1.0)
            denom = np.where(np.abs(denom) < 1e-6, 1e-6, denom)
            q = q_prev + g_prev * (q_hit - q_prev) / denom
            g, _, _ = gap(q)
            above = g > 0
            q_prev = np.where(above, q, q_prev)
            g_prev = np.where(above, g, g_prev)
            q_hit = np.where(above, q_hit, q)
            g_hit = np.where(above, g_hit, g)
        u = bx + q * kx
        v = by + q * ky
        return (x0, y0, x1, y1), u, v, hit

    # === Shading and compositing ===
    def shading(self, u, v, light: np.ndarray, strength: float) -> np.ndarray:
        """Lambertian shading ratio against frontal light (the photograph's own lighting)."""
        n = cv2.remap(self.normals, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        lit = np.clip(n @ light.astype(np.float32), 0.0, None)
        front = np.clip(n[..., 2], 0.0, None)
        ambient = 1.0 - strength
        return ((ambient + strength * lit) / (ambient + strength * front)).astype(np.float32)

    def render(self, texture, pose: Pose, background, light=None, strength=0.0):
        """Renders one frame.

        Args:
            texture: (H, W, 3) float32 texture in [0, 1] at working resolution.
            pose: Pose.
            background: (size, size, 3) float32 image behind the head.
            light: unit 3-vector of the key light in the head frame, or None.
            strength: float. Share of the key light (0 = flat).

        Returns:
            (size, size, 3) float32 image.
        """
        image = background.copy()
        (x0, y0, x1, y1), u, v, hit = self.trace(pose)
        if not hit.any():
            return image
        colour = cv2.remap(texture, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if light is not None and strength > 0:
            colour = colour * np.clip(self.shading(u, v, light, strength), 0.35, 1.8)[..., None]
        region = image[y0:y1, x0:x1]
        region[hit] = colour[hit]
        return image
