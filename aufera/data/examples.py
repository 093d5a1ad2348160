"""The examples of the FERA 2017 dataset, video by video, without TensorFlow.

`video_examples` turns one view of one session into the dataset's examples
(face crop as PNG bytes, labels, view, subject, task, frame number); the
builder `aufera.data.fera2017_dataset.Fera2017` writes what it yields.
`parallel_examples` runs it in worker processes, a video per task, for the
builder's in-process mode (`aufera prepare --workers N`): the workers decode,
crop and PNG-encode, the builder's process serialises and writes. This module
imports neither TensorFlow nor tensorflow-datasets, so those workers start
quickly (TensorFlow is loaded only if a face is not in the cache and MTCNN
has to run).
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aufera.errors import AuferaError


@dataclasses.dataclass(frozen=True)
class VideoJob:
    """One view of one session to turn into examples."""

    session: object
    view: int  # view number 1-9

    @property
    def key(self) -> str:
        return f"{self.session.name}_{self.view}"


_DETECTOR = None


def _detector():
    # One MTCNN per process: Beam workers, the example workers and the local
    # generator each build theirs once.
    global _DETECTOR
    if _DETECTOR is None:
        from aufera.data.faces import FaceDetector

        _DETECTOR = FaceDetector()
    return _DETECTOR


def png_bytes(image: np.ndarray) -> bytes:
    """A crop PNG-encoded by OpenCV, handed to the dataset's `image` feature as is.

    Lossless like the feature's own encoder (TensorFlow's `encode_png`), so the
    decoded crop is the same, and several times faster (docs/benchmarks.md);
    the files are somewhat larger (OpenCV's default, fast zlib level).
    """
    import cv2

    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise AuferaError(f"OpenCV could not PNG-encode an image of shape {image.shape}")
    return encoded.tobytes()


def video_examples(job: VideoJob, settings, cache_dir: str):
    """Yields (key, example) for every frame of one video in which a face was found.

    Frames without a face are left out (`aufera prepare` counts them from the
    face cache); reader problems (undecodable video, frame-count mismatch) are
    logged by the reader here and collected by `aufera prepare` when it finds
    the faces.
    """
    from aufera.data.faces import FaceCache, crop_face, video_faces
    from aufera.data.fera2017 import iter_frames

    session, view = job.session, job.view
    path = Path(session.videos[view])
    try:
        faces = video_faces(path, _detector(), settings, cache=FaceCache(cache_dir))
    except AuferaError:
        return  # an undecodable video: reported by the reader, nothing to yield
    boxes = faces.boxes
    for index, (frame, image, au) in enumerate(iter_frames(session, view)):
        box = boxes[index] if index < len(boxes) else None
        if box is None or not np.all(np.isfinite(box)):
            continue
        yield (
            f"{job.key}_{frame}",
            {
                "image": png_bytes(crop_face(image, box, size=settings.image_size, margin=settings.margin)),
                "au": au.astype(np.int8),
                "view": view - 1,
                "subject": session.subject,
                "task": session.task,
                "frame": int(frame),
            },
        )


def _video_examples_list(job: VideoJob, settings, cache_dir: str) -> list:
    return list(video_examples(job, settings, cache_dir))


def _quiet_worker() -> None:
    from aufera.quiet import quiet_tensorflow
    from aufera.workers import exit_with_parent

    exit_with_parent()  # a worker never outlives a killed command (see aufera.workers)
    quiet_tensorflow()  # in case MTCNN has to run (a face not in the cache)
    import cv2

    cv2.setNumThreads(1)


def parallel_examples(jobs: list, settings, cache_dir: str, workers: int) -> Iterator:
    """`video_examples` of every job in `workers` processes; yields the same items in the same order.

    At most `workers + 1` videos are being made or waiting at a time, so the
    examples held in memory stay a few videos' worth however slowly they are
    written.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_quiet_worker) as pool:
        pending = collections.deque()
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.apply_async(_video_examples_list, (job, settings, cache_dir)))
            if len(pending) > workers:
                break
        while pending:
            items = pending.popleft().get()
            job = next(queue, None)
            if job is not None:
                pending.append(pool.apply_async(_video_examples_list, (job, settings, cache_dir)))
            yield from items
