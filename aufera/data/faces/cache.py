"""`FaceCache`: the faces of each video kept on disk, so a rerun does not detect again.

One `.npz` per video, keyed by the video's name, size and modification time,
the detector and the settings that change the boxes, written to a temporary
name and then renamed, so a crash never leaves a half-written file that is
read as complete. A damaged file is reported in the log and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from aufera.data.faces.config import FaceConfig
from aufera.data.faces.tracker import DETECTED, DROPPED, TRACKED, VideoFaces
from aufera.files import atomic_write

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Part of every cache key: raise it when a change of detection or tracking changes the boxes."""


class FaceCache:
    """Stores the faces of each video in a folder, so a rerun does not detect again.

    One `.npz` per video and settings, named `<video name>.<key>.npz`; the key
    is a hash of the video's file name, size and modification time (ns), the
    detector (`cache_tag`), the settings that change the boxes
    (`FaceConfig.detection_dict`) and `CACHE_VERSION`. A changed video or
    setting thus misses the cache and is recomputed; the old file stays
    (delete the folder to clean up). Files are written under a temporary name
    and renamed (`os.replace`), so none is ever half-written; a file that
    cannot be read back (damaged, or not a cache file) is logged as a warning
    and recomputed.

    Args:
        cache_dir: str or Path. The folder (created if missing).
    """

    def __init__(self, cache_dir):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(video_path, config: FaceConfig, detector_tag: str = "") -> str:
        """Returns the cache key (hex) of a video under some settings.

        Args:
            video_path: str or Path. The video (it must exist).
            config: FaceConfig.
            detector_tag: str. Names the detector. Defaults to "".
        """
        path = Path(video_path)
        stat = path.stat()
        content = {
            "name": path.name,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "detector": detector_tag,
            "config": config.detection_dict(),
            "version": CACHE_VERSION,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]

    def path(self, video_path, config: FaceConfig, detector_tag: str = "") -> Path:
        """Returns the cache file of a video under some settings."""
        return self.cache_dir / f"{Path(video_path).name}.{self.key(video_path, config, detector_tag)}.npz"

    def load(self, video_path, config: FaceConfig, detector_tag: str = "") -> VideoFaces | None:
        """Returns the cached faces, or None when missing or unreadable (then logged)."""
        path = self.path(video_path, config, detector_tag)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != path.name.split(".")[-2]:
                    raise ValueError("its key does not match its name")
                faces = VideoFaces(
                    boxes=np.asarray(data["boxes"], dtype=np.float64),
                    confidence=np.asarray(data["confidence"], dtype=np.float64),
                    source=np.asarray(data["source"], dtype=np.int8),
                    detected_frames=int(data["detected_frames"]),
                )
            count = len(faces.source)
            if faces.boxes.shape != (count, 4) or faces.confidence.shape != (count,):
                raise ValueError(f"array shapes do not match: boxes {faces.boxes.shape}, {count} frames")
            if not np.all(np.isin(faces.source, (DROPPED, DETECTED, TRACKED))):
                raise ValueError("unknown box sources")
        except Exception as error:  # Any damage means: recompute.
            logger.warning("%s: damaged face cache file (%s: %s); recomputing", path, type(error).__name__, error)
            return None
        return faces

    def save(self, video_path, config: FaceConfig, faces: VideoFaces, detector_tag: str = "") -> Path:
        """Writes the faces of a video atomically; returns the cache file."""
        path = self.path(video_path, config, detector_tag)
        atomic_write(
            path,
            lambda tmp: np.savez(
                tmp,
                key=np.array(path.name.split(".")[-2]),
                boxes=faces.boxes,
                confidence=faces.confidence,
                source=faces.source,
                detected_frames=np.int64(faces.detected_frames),
                dropped=np.int64(faces.dropped),
                config=np.array(json.dumps(config.detection_dict(), sort_keys=True)),
            ),
        )
        return path
