"""Writes the synthetic corpus in the FERA 2017 layout.

The corpus is planned in the main process (subjects, identities, AU episodes,
labels and head motion: cheap and deterministic), then sessions are rendered
and encoded in parallel, one session per task. Every file is written under a
temporary name and renamed when complete; a session's ground-truth file is
written last and marks it done, so a killed run leaves no file that looks
complete and a rerun of the same command finishes only what is missing.

Only the views of `SynthConfig.views` (all 9 by default) get videos; the
label file of a session is shared by its views and written either way.

Besides the FERA 2017 folders the corpus holds `groundtruth/`:
    corpus.json            the config, subjects, splits, the views written
                           (number, yaw, pitch), AU thresholds
    subjects.json          identity parameters of every subject
    <session>.npz          per session: frame numbers, AU intensity levels,
                           occurrence before unknowns, labels as written,
                           face boxes, five keypoints and head pose per view
                           and frame (9 views, indexed by view number - 1;
                           NaN for a view not written), and the view numbers
                           written
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from aufera.au import NUM_AUS, decode_to_fera_occurrence, view_grid
from aufera.data.video import VideoWriter
from aufera.errors import AuferaError
from aufera.filenames import CORPUS_MANIFEST, GROUNDTRUTH_DIR, PREVIEW_FILE, SUBJECTS_FILE
from aufera.files import atomic_write_bytes
from aufera.layout import LABEL_HEADER, SPLITS, TRAIN, VALIDATION, Split, label_name, session_name, video_name
from aufera.synth import episodes
from aufera.synth.actions import au_fields, compose, magnitude
from aufera.synth.config import SynthConfig
from aufera.synth.identity import CANONICAL_IOD, OUTSIDE_HEAD, TEXTURE_SIZE, FaceFrame, build_identity, sample_identity
from aufera.synth.render import HeadRenderer, Pose
from aufera.workers import exit_with_parent

PARTIAL_DIR = ".partial"
CORPUS_ENTRIES = tuple(
    [s.video_dir for s in SPLITS] + [s.label_dir for s in SPLITS] + [GROUNDTRUTH_DIR, PARTIAL_DIR, PREVIEW_FILE]
)
FORMAT_VERSION = 1
# Output pixels per texture pixel is 1 / OVERSAMPLE: the texture is kept a bit
# finer than the frame so that resampling does not blur it.
OVERSAMPLE = 1.25
CAMERA_DISTANCE = 700.0  # texture pixels at canonical scale; about 7 head depths: mild perspective
# The face box follows MTCNN's convention (brows to chin, eye corners plus a
# margin): the bounding box of the rectangle FACE_BOX (normalised face
# coordinates) laid on the plane of the face, at the mean height of the eyes
# and mouth corners, together with the cheek contour on the head surface at
# the rectangle's sides (which comes into view on the side a turned head
# shows), made no taller than FACE_BOX_ASPECT times its width, as MTCNN's
# boxes are.
FACE_BOX = (-0.5, -0.95, 1.5, 1.7)
FACE_BOX_ASPECT = 1.45
KEYPOINTS = ((0.0, 0.0), (1.0, 0.0), (0.5, 0.55), (0.1, 1.0), (0.9, 1.0))


@dataclass
class Session:
    split: Split
    subject: str
    subject_index: int
    task: str
    task_index: int
    first_frame: int
    levels: np.ndarray  # (T, 10) float32 intensity levels
    occurrence: np.ndarray  # (T, 10) int8, +1 / -1
    labels: np.ndarray  # (T, 10) int8, +1 / -1 / 0 as written
    motion: dict

    @property
    def name(self) -> str:
        return session_name(self.split, self.subject, self.task)


def subject_id(index: int) -> str:
    """FERA-style id of the subject with global index `index`: F001, M001, F002, ..."""
    return f"{'FM'[index % 2]}{index // 2 + 1:03d}"


def _rng(config: SynthConfig, *keys: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *keys])


def plan(config: SynthConfig):
    """Plans the corpus: subjects with their identities and every session's labels.

    Returns:
        (subjects, sessions, thresholds): subjects maps id -> (split name,
        IdentityParams); sessions is a list of Session; thresholds maps split
        name -> 10 latent thresholds.
    """
    counts = {TRAIN.name: config.train_subjects, VALIDATION.name: config.valid_subjects}
    subjects, sessions, thresholds = {}, [], {}
    index = 0
    corr = episodes.AU_CORRELATION
    for split_code, split in enumerate(SPLITS):
        split_sessions, latents = [], []
        for _ in range(counts[split.name]):
            sid = subject_id(index)
            subjects[sid] = (split.name, sample_identity(_rng(config, 1, index), index))
            for t in range(config.tasks):
                rng = _rng(config, 2, split_code, index, t)
                latents.append(episodes.au_latents(rng, config.frames, config.smoothness, corr))
                split_sessions.append((sid, index, t, rng))
            index += 1
        thr = episodes.thresholds(np.concatenate(latents), config.base_rates, config.present_from)
        thresholds[split.name] = thr
        for (sid, sindex, t, rng), z in zip(split_sessions, latents, strict=True):
            levels = episodes.intensity_levels(z, thr)
            occurrence = episodes.occurrence(levels, config.present_from)
            labels = episodes.apply_unknown(occurrence, episodes.unknown_mask(rng, config.frames, config.unknown_rate))
            motion = episodes.head_motion(rng, config.frames, config.motion, config.smoothness * 2)
            first = int(rng.integers(1, 2000))
            sessions.append(Session(split, sid, sindex, f"T{t + 1}", t, first, levels, occurrence, labels, motion))
    return subjects, sessions, thresholds


# === Rendering one session ===


@dataclass
class _Scene:
    """A subject's assets at the working resolution of one frame size."""

    texture: np.ndarray
    frame: FaceFrame
    fields: dict
    renderer: HeadRenderer
    backgrounds: list
    light: tuple
    clothing: np.ndarray
    scale: float  # working texture pixels per canonical texture pixel
    grid: tuple
    offsets: list  # per view (tx, ty) that centres the face


@lru_cache(maxsize=4)
def _scene(params_json: str, size: int, face_scale: float, yaws: tuple, pitches: tuple, seed: tuple) -> _Scene:
    from aufera.synth.identity import IdentityParams

    params = IdentityParams(**json.loads(params_json))
    assets = build_identity(params)
    k = face_scale * size / CANONICAL_IOD * OVERSAMPLE
    side = int(round(TEXTURE_SIZE * k))
    texture = cv2.resize(assets.texture, (side, side), interpolation=cv2.INTER_AREA)
    height = cv2.resize(assets.height, (side, side), interpolation=cv2.INTER_NEAREST)
    height = np.where(height > OUTSIDE_HEAD / 2, height * k, OUTSIDE_HEAD).astype(np.float32)
    renderer = HeadRenderer(
        height,
        (assets.centre[0] * k, assets.centre[1] * k),
        assets.pivot_depth * k,
        size,
        1.0 / OVERSAMPLE,
        CAMERA_DISTANCE * k,
    )
    frame = FaceFrame(assets.frame.origin * k, assets.frame.ex * k, assets.frame.ey * k)
    rng = np.random.default_rng([*seed, 3])
    top, bottom = np.asarray(params.background[0]), np.asarray(params.background[1])
    ramp = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    base = (1 - ramp) * top + ramp * bottom
    noise = rng.normal(0, 0.05, (8, 16, 1)) + rng.normal(0, 0.015, (8, 16, 3))
    texture_noise = cv2.resize(noise.astype(np.float32), (2 * size, size), interpolation=cv2.INTER_CUBIC)
    backgrounds = []
    for view in view_grid(yaws, pitches):
        # The camera moves around the head, so the background slides with yaw.
        offset = int(round((view.yaw / 120.0 + 0.5) * (size - 1)))
        backgrounds.append(np.clip(base + texture_noise[:, offset : offset + size], 0, 1).astype(np.float32))
    scene = _Scene(
        texture=texture,
        frame=frame,
        fields=au_fields(frame, side),
        renderer=renderer,
        backgrounds=backgrounds,
        light=tuple(params.light),
        clothing=np.asarray(params.clothing, np.float32),
        scale=k,
        grid=(tuple(yaws), tuple(pitches)),
        offsets=[],
    )
    # Each camera of the grid is aimed at the face, as FERA 2017's views are:
    # find the head offset that centres the face box in every view.
    box_points, _ = _face_points(scene)
    for view in view_grid(yaws, pitches):
        tx = ty = 0.0
        for _ in range(3):
            x0, y0, x1, y1 = face_box(scene, Pose(yaw=view.yaw, pitch=view.pitch, tx=tx, ty=ty), box_points)
            x, y = (x0 + x1) / 2, (y0 + y1) / 2
            tx -= (x - size / 2) * CAMERA_DISTANCE * k / renderer.focal
            ty -= (y - size / 2) * CAMERA_DISTANCE * k / renderer.focal
        scene.offsets.append((tx, ty))
    return scene


def _light_vector(azimuth: float, elevation: float) -> np.ndarray:
    az, el = np.radians([azimuth, elevation])
    return np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)])


def _face_points(scene: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """The points that span the face box (see FACE_BOX), and the five keypoints on the surface, as (u, v, h)."""
    x0, y0, x1, y1 = FACE_BOX
    corners = scene.frame.to_pixels(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    keys = scene.renderer.surface_points(scene.frame.to_pixels(np.asarray(KEYPOINTS)))
    plane = np.mean(keys[[0, 1, 3, 4], 2])
    cheeks = scene.frame.to_pixels(np.array([[x, y] for x in (x0, x1) for y in (0.0, 0.5, 1.0)]))
    points = np.concatenate(
        [np.concatenate([corners, np.full((4, 1), plane)], axis=1), scene.renderer.surface_points(cheeks)]
    )
    return points, keys


def face_box(scene: _Scene, pose: Pose, box_points: np.ndarray) -> np.ndarray:
    """The face box (x0, y0, x1, y1) in the image for one pose (see FACE_BOX)."""
    xy = scene.renderer.project(pose, box_points)
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    excess = (y1 - y0) - FACE_BOX_ASPECT * (x1 - x0)
    if excess > 0:
        y0, y1 = y0 + excess / 2, y1 - excess / 2
    return np.array([x0, y0, x1, y1])


def warp_texture(scene: _Scene, levels: np.ndarray) -> np.ndarray:
    """The subject's texture with the AUs of one frame applied."""
    side = scene.texture.shape[0]
    disp, gain = compose(scene.fields, magnitude(levels), side)
    if disp is None:
        return scene.texture
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    warped = cv2.remap(scene.texture, xs - disp[0], ys - disp[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped * gain[..., None]


def frame_poses(scene: _Scene, config: SynthConfig, motion: dict, t: int) -> list[Pose]:
    """The 9 view poses of frame t: the view's angles plus the session's head motion."""
    shift = config.size * OVERSAMPLE  # texture units per frame width at the head's distance
    poses = []
    for view, (ox, oy) in zip(view_grid(config.yaws, config.pitches), scene.offsets, strict=True):
        poses.append(
            Pose(
                yaw=view.yaw + motion["yaw"][t],
                pitch=view.pitch + motion["pitch"][t],
                roll=motion["roll"][t],
                tx=ox + motion["shift_x"][t] * shift,
                ty=oy + motion["shift_y"][t] * shift,
                scale=motion["scale"][t],
            )
        )
    return poses


def render_frame(scene: _Scene, config: SynthConfig, levels, motion, t: int, rng=None, views=None):
    """Renders the views of one frame.

    Args:
        views: view numbers (1-9) to render, in increasing order, or None for
            all 9. Defaults to None.

    Returns:
        (images, boxes, keypoints, poses), one entry per view rendered, in
        view order: images uint8 RGB arrays; boxes (V, 4) face boxes x0, y0,
        x1, y1; keypoints (V, 5, 2); poses the Pose objects.
    """
    texture = warp_texture(scene, levels)
    azimuth, elevation, strength = scene.light
    light = _light_vector(azimuth + motion["light"][t], elevation)
    box_pts, key_pts = _face_points(scene)
    images, boxes, keypoints = [], [], []
    poses = frame_poses(scene, config, motion, t)
    indices = range(len(poses)) if views is None else [number - 1 for number in views]
    poses = [poses[v] for v in indices]
    iod_px = config.face_scale * config.size
    for v, pose in zip(indices, poses, strict=True):
        background = scene.backgrounds[v].copy()
        mouth = scene.renderer.project(pose, key_pts[3:5]).mean(0)
        # Shoulders and clothes below the head, following its motion.
        centre = (int(round(mouth[0])), int(round(mouth[1] + 2.6 * iod_px * pose.scale)))
        axes = (int(round(3.2 * iod_px * pose.scale)), int(round(1.6 * iod_px * pose.scale)))
        cv2.ellipse(background, centre, axes, 0, 0, 360, scene.clothing.tolist(), -1, lineType=cv2.LINE_AA)
        image = scene.renderer.render(texture, pose, background, light, strength)
        image = image * 255.0
        if rng is not None and config.noise > 0:
            image = image + rng.normal(0.0, config.noise, image.shape).astype(np.float32)
        images.append(np.clip(image + 0.5, 0, 255).astype(np.uint8))
        boxes.append(face_box(scene, pose, box_pts))
        keypoints.append(scene.renderer.project(pose, key_pts))
    return images, np.asarray(boxes, np.float32), np.asarray(keypoints, np.float32), poses


def label_file_text(session: Session) -> str:
    codes = decode_to_fera_occurrence(session.labels)
    rows = [LABEL_HEADER]
    for i, row in enumerate(codes):
        rows.append(",".join([str(session.first_frame + i)] + [str(int(c)) for c in row]))
    return "\n".join(rows) + "\n"


def render_session(job) -> tuple[str, int]:
    """Renders, encodes and writes one session (run in a worker process)."""
    out, config_dict, params_json, session = job
    cv2.setNumThreads(1)
    config = SynthConfig(**config_dict)
    out = Path(out)
    scene = _scene(
        params_json, config.size, config.face_scale, config.yaws, config.pitches, (config.seed, session.subject_index)
    )
    partial = out / PARTIAL_DIR
    partial.mkdir(exist_ok=True)
    numbers = config.view_numbers
    names = [video_name(session.split, session.subject, session.task, number) for number in numbers]
    video_dir = out / session.split.video_dir
    rng = np.random.default_rng([config.seed, 4, session.subject_index, session.task_index])
    T = config.frames
    # Ground truth of all 9 views, indexed by view number - 1; NaN where no video is written.
    boxes = np.full((9, T, 4), np.nan, np.float32)
    keys = np.full((9, T, 5, 2), np.nan, np.float32)
    angles = np.full((9, T, 3), np.nan, np.float32)
    rows = [number - 1 for number in numbers]
    with contextlib.ExitStack() as stack:
        # Each video is read back when closed: OpenCV says nothing of a failed write (a full disk).
        writers = [
            stack.enter_context(
                VideoWriter(partial / name, config.fps, (config.size, config.size), target=video_dir / name)
            )
            for name in names
        ]
        for t in range(T):
            images, b, k, poses = render_frame(scene, config, session.levels[t], session.motion, t, rng, numbers)
            for v, writer, image, pose in zip(rows, writers, images, poses, strict=True):
                writer.write(np.ascontiguousarray(image[:, :, ::-1]))
                angles[v, t] = (pose.yaw, pose.pitch, pose.roll)
            boxes[rows, t], keys[rows, t] = b, k
    for name in names:
        os.replace(partial / name, video_dir / name)
    atomic_write_bytes(
        out / session.split.label_dir / label_name(session.split, session.subject, session.task),
        label_file_text(session).encode(),
    )
    buffer = _npz_bytes(
        frame=np.arange(session.first_frame, session.first_frame + T, dtype=np.int64),
        intensity=session.levels.astype(np.float32),
        occurrence=session.occurrence,
        labels=session.labels,
        face_box=boxes,
        keypoints=keys,
        pose=angles,
        scale=np.asarray(session.motion["scale"], np.float32),
        views=np.asarray(numbers, np.int64),
    )
    atomic_write_bytes(out / GROUNDTRUTH_DIR / f"{session.name}.npz", buffer)
    return session.name, len(numbers) * T


def _npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# === The corpus ===


def _empty_corpus_folder(path: Path) -> bool:
    """A folder of the corpus layout holding no file (hidden temporary files of atomic writes aside)."""
    if path.name not in CORPUS_ENTRIES or not path.is_dir():
        return False
    return all(p.name.startswith(".") for p in path.rglob("*") if not p.is_dir())


def _prepare_out_dir(out: Path, manifest: dict, overwrite: bool) -> bool:
    """Checks OUT_DIR; returns True when resuming a corpus made with the same config."""
    if out.exists() and not out.is_dir():
        raise AuferaError(f"{out}: exists and is not a folder")
    # Empty folders of the corpus layout are what a run that failed before its manifest (a full disk) leaves.
    entries = sorted(p.name for p in out.iterdir() if not _empty_corpus_folder(p)) if out.exists() else []
    if not entries:
        return False
    if overwrite:
        for name in CORPUS_ENTRIES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        return False
    manifest_path = out / GROUNDTRUTH_DIR / CORPUS_MANIFEST
    if manifest_path.exists():
        try:
            existing = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise AuferaError(
                f"{manifest_path}: unreadable corpus manifest ({error}); pass --overwrite to replace the corpus"
            ) from None
        if existing.get("config") == manifest["config"] and existing.get("format") == manifest["format"]:
            return True
        raise AuferaError(
            f"{out}: holds a corpus made with other arguments; pass --overwrite to replace it, or use another folder"
        )
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise AuferaError(f"{out}: folder is not empty ({shown}); pass --overwrite to write the corpus there anyway")


def write_corpus(
    out_dir, config: SynthConfig, workers: int = 1, overwrite: bool = False, progress: bool = True
) -> dict:
    """Writes (or completes) a synthetic corpus.

    Args:
        out_dir: path. The corpus root.
        config: SynthConfig.
        workers: int. Worker processes rendering sessions.
        overwrite: bool. Replace a corpus or other content in `out_dir`.
        progress: bool. Show a progress bar.

    Returns:
        The manifest (also written to groundtruth/corpus.json) with a
        "written" count of sessions rendered by this call.

    Raises:
        WriteError: a file cannot be written (no space left), naming it.
            A session counts as written once its ground truth file exists,
            written last, so rerunning the call after space is freed writes
            the sessions that are missing, and nothing else.
    """
    from tqdm import tqdm

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1. Received: workers={workers!r}")
    out = Path(out_dir)
    subjects, sessions, thresholds = plan(config)
    views = [v for v in view_grid(config.yaws, config.pitches) if v.number in config.view_numbers]
    manifest = {
        "format": FORMAT_VERSION,
        "kind": "aufera synthetic multi-view AU corpus (FERA 2017 layout)",
        "config": config.to_dict(),
        "splits": {s.name: sorted(sid for sid, (split, _) in subjects.items() if split == s.name) for s in SPLITS},
        "views": [{"number": v.number, "yaw": v.yaw, "pitch": v.pitch} for v in views],
        "thresholds": {k: [float(x) for x in v] for k, v in thresholds.items()},
        "face_box": list(FACE_BOX),
    }
    resuming = _prepare_out_dir(out, manifest, overwrite)
    for split in SPLITS:
        (out / split.video_dir).mkdir(parents=True, exist_ok=True)
        (out / split.label_dir).mkdir(parents=True, exist_ok=True)
    gt = out / GROUNDTRUTH_DIR
    gt.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    if not resuming:
        atomic_write_bytes(gt / CORPUS_MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    if not resuming or not (gt / SUBJECTS_FILE).exists():  # a run stopped between the two (a full disk) resumes
        subject_json = {sid: {"split": split, **params.to_dict()} for sid, (split, params) in subjects.items()}
        atomic_write_bytes(gt / SUBJECTS_FILE, (json.dumps(subject_json, indent=2) + "\n").encode())
    todo = [s for s in sessions if not (gt / f"{s.name}.npz").exists()]
    config_dict = config.to_dict()
    jobs = [(str(out), config_dict, json.dumps(subjects[s.subject][1].to_dict(), sort_keys=True), s) for s in todo]
    # Sessions of one subject go to the same worker in a row, so its identity is built once.
    jobs.sort(key=lambda j: (j[3].subject_index, j[3].task_index))
    total = len(views) * config.frames * len(todo)
    bar = tqdm(total=total, unit="frame", desc="synth", disable=not progress, smoothing=0.1)
    if resuming and progress:
        bar.write(f"resuming: {len(sessions) - len(todo)} of {len(sessions)} sessions already written")
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _, frames = render_session(job)
                bar.update(frames)
        else:
            ctx = multiprocessing.get_context("spawn")
            # Workers end with this process: a rerun never races an orphaned worker of a killed run.
            with ctx.Pool(min(workers, len(jobs)), initializer=exit_with_parent) as pool:
                for _, frames in pool.imap_unordered(render_session, jobs, chunksize=1):
                    bar.update(frames)
    finally:
        bar.close()
        shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    return {**manifest, "written": len(todo), "sessions": len(sessions)}


def corpus_base_rates(out_dir) -> dict[str, np.ndarray]:
    """Share of known labels that are present, per AU, read back from the
    label files of each split; also the share of labels written as 9."""
    rates = {}
    for split in SPLITS:
        rows = []
        for path in sorted((Path(out_dir) / split.label_dir).glob("*.csv")):
            lines = path.read_text().splitlines()[1:]
            rows.extend([int(x) for x in line.split(",")[1:]] for line in lines)
        codes = np.asarray(rows).reshape(-1, NUM_AUS)
        known = codes != 9
        rates[split.name] = (codes == 1).sum(0) / np.maximum(known.sum(0), 1)
        rates[f"{split.name}_unknown"] = np.array([1.0 - known.mean()]) if len(codes) else np.array([0.0])
    return rates
