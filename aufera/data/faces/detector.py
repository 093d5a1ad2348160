"""Face detection: MTCNN, the most confident face of each image.

`FaceDetector` runs MTCNN from the `mtcnn` package with its pretrained
weights and default thresholds (PNet 0.6, RNet 0.7, ONet 0.8, smallest face
20 px) and keeps the most confident face of each image. Images are sent to the
package in batches, and its three networks are wrapped in `tf.function`, which
gives the same boxes about 3x faster than the package's eager calls (one call
carries a fixed cost, so batches help too). The tracker needs only the
`Detector` protocol, so tests can give it a fake.

References:
    Zhang, Zhang, Li, Qiao 2016, "Joint Face Detection and Alignment Using
    Multitask Cascaded Convolutional Networks" (MTCNN).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from aufera.data.faces.crops import check_image

logger = logging.getLogger(__name__)


class Detection(NamedTuple):
    """The most confident face of an image.

    Args:
        box: float64 array (4,). x0, y0, x1, y1 in pixels.
        confidence: float. The detector's confidence.
    """

    box: np.ndarray
    confidence: float


class Detector(Protocol):
    """What the tracker needs of a face detector (`FaceDetector`, or a fake in tests)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[Detection | None]: ...


class FaceDetector:
    """MTCNN from the `mtcnn` package, keeping the most confident face per image.

    TensorFlow and the networks are loaded on the first call to `detect`, so
    creating a detector is cheap and a process that finds every box in the
    cache never loads them.

    Args:
        batch_size: int. Images per call to the package (it pads and stacks
            them; one call has a fixed cost, so larger batches are faster per
            image). Defaults to 32.
        device: str. TensorFlow device, e.g. "CPU:0" or "GPU:0". Defaults to
            "CPU:0" (the package's default).
        compiled: bool. Run the package's networks as `tf.function`s (same
            weights, same boxes, about 3x faster on CPU). Defaults to True.
        **thresholds: passed to `MTCNN.detect_faces` (e.g. threshold_onet,
            min_face_size). Defaults to none: the package's defaults, as in
            the paper.

    Examples:

        detector = FaceDetector()
        found = detector.detect([frame_rgb])[0]  # Detection(box, confidence) or None
    """

    def __init__(self, batch_size: int = 32, device: str = "CPU:0", compiled: bool = True, **thresholds):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1. Received: batch_size={batch_size!r}")
        self.batch_size = batch_size
        self.device = device
        self.compiled = compiled
        self.thresholds = dict(thresholds)
        self._mtcnn = None

    @property
    def cache_tag(self) -> str:
        """Names the detector and its settings in cache keys."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = version("mtcnn")
        except PackageNotFoundError:
            package = "unknown"
        return f"mtcnn-{package}" + "".join(f"-{k}={v}" for k, v in sorted(self.thresholds.items()))

    def _model(self):
        if self._mtcnn is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from mtcnn import MTCNN

            mtcnn = MTCNN(device=self.device)
            if self.compiled:
                _compile_stages(mtcnn)
            self._mtcnn = mtcnn
        return self._mtcnn

    def detect(self, images: Sequence[np.ndarray]) -> list[Detection | None]:
        """Finds the most confident face in each image.

        Args:
            images: sequence of uint8 RGB arrays (H, W, 3), or one array
                (N, H, W, 3).

        Returns:
            A list with, per image, a `Detection` (box x0, y0, x1, y1 as a
            float64 array, and the confidence) or None when no face was found.
        """
        return [max(faces, key=lambda face: face.confidence) if faces else None for faces in self.detect_all(images)]

    def detect_all(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Finds every face in each image (several people in a photograph).

        Args:
            images: sequence of uint8 RGB arrays (H, W, 3), or one array (N, H, W, 3).

        Returns:
            A list with, per image, a list of `Detection`s ordered left to
            right by the box's left edge (empty when no face was found).
        """
        images = [np.ascontiguousarray(check_image(image, f"images[{i}]")) for i, image in enumerate(images)]
        if not images:
            return []
        mtcnn = self._model()
        found: list[list[Detection]] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            # A list always gets a list of lists back, even for one image.
            results = mtcnn.detect_faces(batch, box_format="xyxy", **self.thresholds)
            if len(results) != len(batch):
                raise RuntimeError(f"mtcnn returned {len(results)} results for {len(batch)} images")
            for faces in results:
                faces = [Detection(np.asarray(f["box"], dtype=np.float64), float(f["confidence"])) for f in faces or []]
                found.append(sorted(faces, key=lambda face: float(face.box[0])))
        return found


def _compile_stages(mtcnn) -> None:
    """Wraps the networks of the package's stages in `tf.function` (a graph instead of eager layer calls).

    The stages keep their network in the attribute `_model` (mtcnn 1.0); if a
    later version moves it, the networks simply stay eager.
    """
    import tensorflow as tf

    for stage in getattr(mtcnn, "stages", []):
        model = getattr(stage, "_model", None)
        call = getattr(model, "call", None)
        if call is None:
            logger.debug("mtcnn stage %r has no network to compile; left eager", stage)
            continue
        stage._model = tf.function(call, reduce_retracing=True)
