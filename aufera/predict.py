"""A trained model on new videos and images: faces found, cropped as in training, one table row per face and frame.

`AUDetector` puts together a preset (`aufera.pretrained`), the face finding
of `aufera prepare` (MTCNN on keyframes, tracking in between:
`aufera.data.faces`) and the crops and normalisation the preset names. It
returns tables as dicts of equal-length columns (`pandas.DataFrame(table)`
takes one in one call), and writes them as CSV files in OpenFace's layout:

- `frame`: from 1, as OpenFace numbers frames (images: 1);
- `face_id`: 0 in a video (the main face, tracked); in an image, one row per
  face, numbered from the left;
- `timestamp`: seconds, (frame - 1) / fps (the video's frame rate, 30 when
  it declares none; 0 for images);
- `confidence`: MTCNN's confidence in the face; on a tracked frame, that of
  the last detection before it (the first one after, at the start); 0 where
  no face was found;
- `success`: 1 where a face was found (or tracked), else 0: such a row has
  empty AU and view cells, and is never dropped;
- `AU01_c, ..., AU23_c`: 1 where the AU is present by the preset's decision
  (eq. 5 of He et al. 2019 for a fused preset), else 0, as OpenFace's `_c`
  columns mean presence;
- `AU01_p, ..., AU23_p`: the present-probability;
- `view`, `view_p` (presets with a view head): the most likely of FERA
  2017's 9 views (1-9) and its probability.

aufera predicts no AU intensity: there are no `_r` columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from aufera.au import AU_KEYS
from aufera.errors import AuferaError, WriteError

LEADING_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")
AU_NAMES = tuple(f"AU{int(key[2:]):02d}" for key in AU_KEYS)  # OpenFace's names: AU01, AU04, ...
PRESENCE_COLUMNS = tuple(f"{name}_c" for name in AU_NAMES)
PROBABILITY_COLUMNS = tuple(f"{name}_p" for name in AU_NAMES)
VIEW_COLUMNS = ("view", "view_p")
DEFAULT_FPS = 30.0
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})


def table_columns(has_view: bool) -> tuple[str, ...]:
    """The columns of a prediction table, in order."""
    return LEADING_COLUMNS + PRESENCE_COLUMNS + PROBABILITY_COLUMNS + (VIEW_COLUMNS if has_view else ())


def _empty_table(rows: int, has_view: bool) -> dict:
    table = {
        "frame": np.zeros(rows, np.int64),
        "face_id": np.zeros(rows, np.int64),
        "timestamp": np.zeros(rows, np.float64),
        "confidence": np.zeros(rows, np.float64),
        "success": np.zeros(rows, np.int64),
    }
    for name in PRESENCE_COLUMNS + PROBABILITY_COLUMNS + (VIEW_COLUMNS if has_view else ()):
        table[name] = np.full(rows, np.nan, np.float64)  # empty where there is no face
    return table


def _fill(table: dict, rows, outputs: dict) -> None:
    present, decision = outputs["au_present"], outputs["au_decision"]
    for j, name in enumerate(AU_NAMES):
        table[f"{name}_c"][rows] = decision[:, j]
        table[f"{name}_p"][rows] = present[:, j]
    if "view" in table and "view" in outputs:
        view = outputs["view"]
        table["view"][rows] = np.argmax(view, axis=1) + 1
        table["view_p"][rows] = np.max(view, axis=1)


def _format(value, column: str) -> str:
    if column in ("frame", "face_id", "success"):
        return str(int(value))
    if isinstance(value, float | np.floating) and math.isnan(value):
        return ""
    if column in PRESENCE_COLUMNS or column == "view":
        return str(int(value))
    if column in ("timestamp", "confidence"):
        return f"{float(value):.3f}"
    return f"{float(value):.4f}"


def table_csv(table: dict) -> str:
    """A prediction table as CSV text (a header row, then one row per face and frame; empty cells for no face)."""
    columns = list(table)
    lines = [",".join(columns)]
    for i in range(len(table["frame"])):
        lines.append(",".join(_format(table[c][i], c) for c in columns))
    return "\n".join(lines) + "\n"


def _confidences(faces) -> np.ndarray:
    """Per frame: the detector's confidence, carried to tracked frames from the detection before (or after) them."""
    from aufera.data.faces import DROPPED

    confidence = np.asarray(faces.confidence, np.float64).copy()
    known = np.isfinite(confidence)
    if known.any():
        index = np.where(known, np.arange(len(confidence)), -1)
        last = np.maximum.accumulate(index)
        first = np.flatnonzero(known)[0]
        confidence = np.where(last >= 0, confidence[np.maximum(last, 0)], confidence[first])
    else:
        confidence[:] = 0.0
    confidence[np.asarray(faces.source) == DROPPED] = 0.0
    return confidence


def read_image(path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3): grayscale and 4-channel (alpha) images too, the alpha dropped.

    Raises:
        AuferaError: the file is missing, empty or not an image OpenCV can decode.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise AuferaError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise AuferaError(f"{path}: empty file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # gray -> 3 channels, alpha dropped, 16-bit -> 8-bit
    if image is None:
        raise AuferaError(f"{path}: not an image OpenCV can decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class AUDetector:
    """A preset applied to videos and images: faces found and tracked, crops scored, one table row per face.

    Args:
        preset: a `aufera.pretrained.Preset`.
        batch_size: int. Face crops per model call. Defaults to 64.
        detect_every: int or None. Distance between keyframes where MTCNN
            runs in a video (the others tracked); None keeps the preset's
            (`FaceConfig.detect_every`).
        face_detector: a face detector (`aufera.data.faces.FaceDetector`, or
            any object with its `detect` and `detect_all`). Defaults to MTCNN.

    Examples:

    ```python
    detector = AUDetector.from_preset("demo")
    table = detector.predict_video("interview.mp4")
    frame = pandas.DataFrame(table)
    ```
    """

    def __init__(self, preset, batch_size: int = 64, detect_every: int | None = None, face_detector=None):
        import tensorflow as tf

        from aufera.data.faces import FaceConfig, FaceDetector

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a whole number >= 1. Received: batch_size={batch_size!r}")
        self.preset = preset
        self.batch_size = batch_size
        face = dict(preset.face)
        if detect_every is not None:
            face["detect_every"] = detect_every
        face["image_size"] = int(preset.crop_shape[0])
        self.face_config = FaceConfig(**face)
        self.face_detector = face_detector or FaceDetector()
        self.has_view = preset.has_view
        spec = tf.TensorSpec((None, *preset.crop_shape), tf.uint8)
        if preset.is_sequence:
            # The CNN-LSTM in its pieces: the CNN and the PCA frame by frame in batches, then the LSTMs and the
            # fusion network over the whole video's features (a few numbers a frame), as CNNLSTM.call computes.
            whole, normalize = preset.model, preset.normalization()

            def frames(crops):
                out = whole.cnn(normalize(crops), training=False)
                return {"cnn": out["au"], "features": whole.projection(out["fc7"])}

            def sequences(features, cnn):
                lstm = whole.temporal(features, training=False)["au"]
                return whole.fusion({"cnn": cnn, "lstm": lstm}, training=False)["au"]

            self._frames = tf.function(frames, input_signature=[spec])
            self._sequences = tf.function(sequences, reduce_retracing=True)
        else:
            serving = preset.serving_model()
            self._serve = tf.function(lambda crops: serving(crops, training=False), input_signature=[spec])

    @classmethod
    def from_preset(cls, handle=None, **kwargs) -> AUDetector:
        """`AUDetector(aufera.pretrained.load_preset(handle), **kwargs)`; None is the demo preset."""
        from aufera.pretrained import load_preset

        return cls(load_preset(handle), **kwargs)

    @property
    def columns(self) -> tuple[str, ...]:
        return table_columns(self.has_view)

    def _batched(self, fn, crops: np.ndarray) -> dict:
        out = {}
        for start in range(0, len(crops), self.batch_size):
            for key, value in fn(crops[start : start + self.batch_size]).items():
                out.setdefault(key, []).append(np.asarray(value))
        return {key: np.concatenate(values) for key, values in out.items()}

    def _sequence_outputs(self, features: np.ndarray, cnn: np.ndarray) -> dict:
        """A CNN-LSTM's answer on sequences: features (N, T, D) (zero on frames without a face), CNN scores (N, T, A)."""
        present = np.asarray(self._sequences(features.astype(np.float32), cnn.astype(np.float32)))
        return {"au_present": present, "au_decision": (present > 0.5).astype(np.float32)}

    def score_crops(self, crops: np.ndarray) -> dict:
        """The preset's outputs on uint8 face crops (N, H, W, C): `au_present`, `au_decision` (and `view`), numpy.

        A CNN-LSTM preset scores each crop as a sequence of one frame (its
        videos go through `predict_video`, which gives the LSTMs the whole
        sequence).
        """
        crops = np.asarray(crops, np.uint8)
        if not self.preset.is_sequence:
            return self._batched(self._serve, crops)
        frames = self._batched(self._frames, crops)
        out = self._sequence_outputs(frames["features"][:, None], frames["cnn"][:, None])
        return {key: value[:, 0] for key, value in out.items()}

    def _crop(self, image: np.ndarray, box) -> np.ndarray:
        from aufera.data.faces import crop_face

        return crop_face(image, box, size=self.face_config.image_size, margin=self.face_config.margin)

    def predict_images(self, images: Iterable) -> dict:
        """One row per face of each image (`face_id` from the left), a `success = 0` row for an image without one.

        Args:
            images: image files (paths) or uint8 RGB arrays (H, W, 3).

        Returns:
            A table (dict of columns, see the module docstring) with an extra
            leading column `image`: the index of the image in `images`.
        """
        arrays = [read_image(image) if isinstance(image, str | Path) else np.asarray(image) for image in images]
        found = self.face_detector.detect_all(arrays)
        rows = [(i, k, face) for i, faces in enumerate(found) for k, face in enumerate(faces or [None])]
        table = {"image": np.array([i for i, _, _ in rows], np.int64), **_empty_table(len(rows), self.has_view)}
        table["frame"][:] = 1
        table["face_id"][:] = [k for _, k, _ in rows]
        with_face = [r for r, (_, _, face) in enumerate(rows) if face is not None]
        table["confidence"][with_face] = [rows[r][2].confidence for r in with_face]
        table["success"][with_face] = 1
        if with_face:
            crops = np.stack([self._crop(arrays[rows[r][0]], rows[r][2].box) for r in with_face])
            _fill(table, with_face, self.score_crops(crops))
        return table

    def predict_video(self, path, progress: Callable[[int], object] | None = None, frames_out=None) -> dict:
        """One row per frame of a video: the main face, tracked; `success = 0` rows where there is none.

        The video is decoded twice: once to find and track the face
        (`aufera.data.faces.video_faces`), once to cut and score the crops
        in batches, so memory does not grow with the video's length. A
        CNN-LSTM preset keeps its CNN's scores and PCA features of every
        frame (a few numbers each), then runs its LSTMs and fusion network
        over the whole video, frames without a face as gaps (as
        `CNNLSTM.call` with `present`).

        Args:
            path: str or Path. The video.
            progress: callable or None. Called with the number of frames
                scored after each batch.
            frames_out: callable or None. Called with `(frame, box, row of
                the table as a dict)` for every frame, in order (the overlay).

        Raises:
            AuferaError: the video is missing, cannot be opened, yields no
                frame, changes length between the passes, or shows no face at all.
        """
        from aufera.data.faces import video_faces
        from aufera.data.video import VideoReader

        path = Path(path)
        if path.is_file() and path.stat().st_size == 0:
            raise AuferaError(f"{path}: empty file")
        faces = video_faces(path, self.face_detector, self.face_config)
        total = faces.num_frames
        if not faces.kept.any():
            raise AuferaError(f"{path}: no face found in any of its {total} frames")
        table = _empty_table(total, self.has_view)
        with VideoReader(path) as reader:
            fps = reader.fps or DEFAULT_FPS
            table["frame"][:] = np.arange(1, total + 1)
            table["timestamp"][:] = np.arange(total) / fps
            table["confidence"][:] = _confidences(faces)
            table["success"][:] = faces.kept.astype(np.int64)
            pending_rows, pending_crops, pending_frames = [], [], []
            sequence = self.preset.is_sequence
            if sequence:  # the CNN's outputs of every frame, zero where there is no face (the LSTMs' gaps)
                cnn = np.zeros((total, len(AU_NAMES)), np.float32)
                features = np.zeros((total, int(self.preset.model.projection.num_components)), np.float32)

            def flush():
                if pending_crops and sequence:
                    out = self._batched(self._frames, np.stack(pending_crops))
                    cnn[pending_rows], features[pending_rows] = out["cnn"], out["features"]
                elif pending_crops:
                    _fill(table, pending_rows, self.score_crops(np.stack(pending_crops)))
                if frames_out is not None and not sequence:
                    for i, image in pending_frames:
                        frames_out(image, faces.boxes[i], {c: table[c][i] for c in table})
                if progress is not None and pending_frames:
                    progress(len(pending_frames))
                pending_rows.clear()
                pending_crops.clear()
                pending_frames.clear()

            decoded = 0
            for i, image in enumerate(reader):
                if i >= total:
                    raise AuferaError(f"{path}: yielded more frames on the second reading than on the first ({total})")
                decoded += 1
                if faces.kept[i]:
                    pending_rows.append(i)
                    pending_crops.append(self._crop(image, faces.boxes[i]))
                pending_frames.append((i, image if frames_out is not None and not sequence else None))
                if len(pending_frames) >= self.batch_size:
                    flush()
            flush()
        if decoded != total:
            raise AuferaError(f"{path}: {decoded} frames on the second reading, {total} on the first (damaged file?)")
        if sequence:
            kept = np.flatnonzero(faces.kept)
            _fill(table, kept, {k: v[0][kept] for k, v in self._sequence_outputs(features[None], cnn[None]).items()})
            if frames_out is not None:  # the decisions exist only now: a third reading draws them
                with VideoReader(path) as reader:
                    for i, image in enumerate(reader):
                        if i < total:
                            frames_out(image, faces.boxes[i], {c: table[c][i] for c in table})
        return table


# === Many inputs to CSV files (`aufera predict`) ===


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _media_kind(path: Path) -> str:
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def expand_inputs(inputs: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files from files, folders (recursive: their images and videos, by suffix) and globs.

    Returns:
        `(files, problems)`: the files in the order given (each once), and
        `(input, reason)` for each input that names nothing.
    """
    import glob

    files, problems, seen = [], [], set()

    def add(path: Path):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for text in inputs:
        if _is_glob(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                problems.append((text, "the pattern matches no file"))
            for match in matches:
                add(match)
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
            if not found:
                problems.append((text, "the folder holds no image or video file"))
            for match in found:
                add(match)
        elif path.is_file():
            add(path)
        else:
            problems.append((text, "no such file or folder"))
    return files, problems


def output_names(files: list[Path]) -> list[str]:
    """`<input name>.csv` per file; a name already taken gets `_2`, `_3`, ... before `.csv`."""
    names, taken = [], set()
    for path in files:
        stem, n = path.stem or "input", 1
        name = f"{stem}.csv"
        while name.lower() in taken:
            n += 1
            name = f"{stem}_{n}.csv"
        taken.add(name.lower())
        names.append(name)
    return names


def check_out_dir(out_dir) -> Path:
    """Creates the output folder if needed and checks that files can be written there (AuferaError if not)."""
    import tempfile

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".aufera-write-check."):
            pass
    except OSError as error:
        raise AuferaError(f"{out_dir}: the output folder cannot be written ({error.strerror or error})") from None
    return out_dir


def _table_for_image(detector: AUDetector, path: Path) -> dict:
    table = detector.predict_images([path])
    table.pop("image")
    if not table["success"].any():
        raise AuferaError(f"{path}: no face found in the image")
    return table


def _overlay_writer(path: Path, out_path: Path, fps: float):
    """A frame callback drawing the box and the present AUs, and a `close(ok)` that renames the video into place.

    The video is written under a hidden temporary name and read back when
    closed (`aufera.data.video.VideoWriter`), so a cut video (a full disk)
    is a `WriteError` naming `out_path`, never an overlay left as complete.
    """
    import cv2

    from aufera.data.video import VideoWriter

    tmp = out_path.with_name(f".{out_path.name}.partial.mp4")
    state = {"writer": None}

    def draw(image, box, row):
        frame = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if state["writer"] is None:
            height, width = frame.shape[:2]
            state["writer"] = VideoWriter(tmp, fps, (width, height), target=out_path)
        if row["success"]:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            cv2.rectangle(frame, (x0, y0), (x1, y1), (0, 200, 0), 2)
            active = [name for name in AU_NAMES if row[f"{name}_c"] == 1]
            text = " ".join(active) or "no AU"
            cv2.putText(frame, text, (max(x0, 2), max(y0 - 8, 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 0), 1)
        state["writer"].write(frame)

    def close(ok: bool):
        writer = state["writer"]
        if writer is None:
            return
        if not ok:
            writer.abort()
            return
        try:
            writer.close()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(out_path)

    return draw, close


def plot_table(table: dict, out_path: Path, title: str) -> None:
    """A PNG of each AU's present-probability over time (frames without a face left blank), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aufera.files import atomic_write

    fig, axes = plt.subplots(len(AU_NAMES), 1, figsize=(10, 1.1 * len(AU_NAMES)), sharex=True, sharey=True)
    for ax, name in zip(axes, AU_NAMES, strict=True):
        ax.plot(table["timestamp"], table[f"{name}_p"], lw=0.8)
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.set_ylim(0, 1)
    axes[-1].set_xlabel("seconds")
    axes[0].set_title(title)
    fig.tight_layout()
    atomic_write(out_path, lambda tmp: fig.savefig(tmp, dpi=80))
    plt.close(fig)


def predict_files(
    inputs: Iterable[str],
    detector: AUDetector,
    out_dir,
    overlay: bool = False,
    plot: bool = False,
    progress: bool = True,
    report: Callable[[str], object] | None = None,
) -> dict:
    """`aufera predict`: one CSV per input file (`output_names`), written atomically; bad inputs listed, not fatal.

    Args:
        inputs: files, folders and globs (`expand_inputs`).
        detector: an `AUDetector`.
        out_dir: str or Path. Where the CSVs (and overlays, plots) go.
        overlay: bool. Also `<name>_overlay.mp4` per video: the box and the present AUs drawn.
        plot: bool. Also `<name>_au.png` per video: each AU's probability over time.
        progress: bool. Progress bars over the inputs and each video's frames.
        report: callable or None. Called with one line per input that fails
            or is renamed, as it happens.

    Returns:
        A summary dict: `written` (input -> CSV path), `failed` (input ->
        reason), `frames`, `faces` (rows with a face), `seconds`,
        `frames_per_second`.

    Raises:
        WriteError: an output cannot be written (no space left, a quota):
            unlike a bad input this stops at once, naming the file; the
            outputs of the inputs before it are complete, none of this
            input's is left half-written.
    """
    import time

    from tqdm import tqdm

    from aufera.files import atomic_write_text

    report = report or (lambda line: None)
    out_dir = check_out_dir(out_dir)
    files, problems = expand_inputs(inputs)
    failed = dict(problems)
    for text, reason in problems:
        report(f"{text}: {reason}")
    written, frames, faces = {}, 0, 0
    started = time.perf_counter()
    names = output_names(files)
    for path, name in tqdm(list(zip(files, names, strict=True)), desc="inputs", unit="input", disable=not progress):
        csv_path = out_dir / name
        close = None
        try:
            if _media_kind(path) == "image":
                table = _table_for_image(detector, path)
            else:
                draw = None
                if overlay:
                    from aufera.data.video import VideoReader

                    with VideoReader(path) as reader:
                        fps = reader.fps or DEFAULT_FPS
                    draw, close = _overlay_writer(path, out_dir / f"{Path(name).stem}_overlay.mp4", fps)
                with tqdm(desc=path.name, unit="frame", leave=False, disable=not progress) as bar:
                    table = detector.predict_video(path, progress=bar.update, frames_out=draw)
                if plot:
                    plot_table(table, out_dir / f"{Path(name).stem}_au.png", path.name)
            if close is not None:
                close(True)
                close = None
            atomic_write_text(csv_path, table_csv(table))
        except WriteError:
            # No space for the outputs (or no write access): every input after this one would fail the same
            # way after its detection; stop, naming the file. The outputs written so far are complete.
            if close is not None:
                close(False)
            raise
        except AuferaError as error:
            if close is not None:
                close(False)
            failed[str(path)] = str(error).removeprefix(f"{path}: ")
            report(str(error) if str(error).startswith(str(path)) else f"{path}: {error}")
            continue
        except OSError as error:  # not a write (those are WriteErrors): reading this input failed
            if close is not None:
                close(False)
            where = f"{error.filename}: " if error.filename not in (None, str(path)) else ""
            failed[str(path)] = f"{where}{error.strerror or error}"
            report(f"{path}: {failed[str(path)]}")
            continue
        if name != f"{path.stem}.csv":
            report(f"{path}: its table is written as {name} (another input has the name {path.stem}.csv)")
        written[str(path)] = str(csv_path)
        frames += len(table["frame"])
        faces += int(np.sum(table["success"]))
    seconds = time.perf_counter() - started
    return {
        "written": written,
        "failed": failed,
        "frames": frames,
        "faces": faces,
        "seconds": seconds,
        "frames_per_second": frames / seconds if seconds > 0 else float("nan"),
    }
