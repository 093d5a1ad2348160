"""`aufera prepare`: a FERA 2017 copy (or the synthetic corpus) -> the TFDS dataset.

Steps:
    1. find the sessions and read the label files (`aufera.data.fera2017`);
    2. find the face in every frame of every video, in parallel over
       sessions (the views of a session together, their keyframes in one
       detector call), and cache the boxes per video (`aufera.data.faces`),
       so a rerun after a crash does not detect again;
    3. build the TFDS dataset (`aufera.data.fera2017_dataset.Fera2017`),
       in-process (the crops made in worker processes, this one writing the
       shards) or as an Apache Beam pipeline;
    4. compute the training-split mean image (training split only) and store
       it beside the dataset as `mean_image.npy`;
    5. write the report (`prepare_report.json`, `prepare_report.md`) and print
       its summary.

TFDS writes the shards into a temporary folder and renames it when the
dataset is complete, so a killed run never leaves a dataset that reads as
complete; rerunning the same command reuses the cached faces.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from pathlib import Path

import numpy as np

from aufera.au import AU_KEYS, NUM_AUS
from aufera.errors import AuferaError
from aufera.filenames import CORPUS_MANIFEST, GROUNDTRUTH_DIR, MEAN_FILE, PREPARE_REPORT_JSON, PREPARE_REPORT_MD
from aufera.files import atomic_write, atomic_write_text, writing


def dataset_config(image_size: int, face: dict):
    """The builder config for a crop size and face settings; a non-default
    setting gets its own config name, so datasets made with other settings
    never collide."""
    from aufera.data.faces import FaceConfig
    from aufera.data.fera2017_dataset import Fera2017, Fera2017Config

    defaults = FaceConfig(image_size=image_size).to_dict()
    changed = {k: v for k, v in face.items() if defaults.get(k) != v and k != "image_size"}
    name = str(image_size) + "".join(f"-{k}{v}" for k, v in sorted(changed.items()))
    if name in {c.name for c in Fera2017.BUILDER_CONFIGS}:
        return name  # a named config of the builder: the same dataset `tfds build --config` makes
    return Fera2017Config(
        name=name, image_size=image_size, face=dict(changed), description=f"{image_size}px crops", version="1.0.0"
    )


def _faces_job(job):
    """Worker: finds the faces of a group of videos (a session's views) together, through the cache, and
    collects reader problems; returns one result per video."""
    from aufera.data.examples import _detector
    from aufera.data.faces import FaceCache, videos_faces
    from aufera.data.fera2017 import iter_frames, pairing_problem

    video_jobs, settings, cache_dir = job
    found = videos_faces(
        [Path(video_job.session.videos[video_job.view]) for video_job in video_jobs],
        _detector(),
        settings,
        cache=FaceCache(cache_dir),
    )
    results = []
    for video_job, faces in zip(video_jobs, found, strict=True):
        session, view = video_job.session, video_job.view
        problems = []
        # Pairing with the label rows decides which frames are used: count the
        # paired frames without a face, and report count faults as the reader
        # does. The faces were found on the frames of the reader's decoder, so
        # their count is the video's; otherwise the reader says what is wrong.
        if isinstance(faces, AuferaError) or session.frame_numbers is None:
            paired = sum(1 for _ in iter_frames(session, view, problems))
        else:
            rows = len(session.frame_numbers)
            paired = min(faces.num_frames, rows)
            problem = pairing_problem(session.videos[view], session.label_path, faces.num_frames, rows)
            problems += [problem] if problem is not None else []
        if isinstance(faces, AuferaError):  # undecodable: the reader reported it above
            results.append((video_job.key, session.split.name, paired, paired, 0, problems))
            continue
        boxes = np.asarray(faces.boxes, dtype=np.float64).reshape(-1, 4)[:paired]
        dropped = int((~np.all(np.isfinite(boxes), axis=1)).sum() + max(paired - len(boxes), 0))
        results.append((video_job.key, session.split.name, paired, dropped, int(faces.detected_frames), problems))
    return results


def find_faces(
    jobs: list, settings, cache_dir: Path, workers: int, progress: bool = True, batch_views: bool = True
) -> dict:
    """Step 2: faces of every video, in `workers` processes; returns per-video counts and problems.

    With `batch_views` (the default), the views of a session are one task: they
    are decoded side by side and their keyframes detected in one call per
    window (`aufera.data.faces.videos_faces`); otherwise, and when there are
    fewer sessions than workers (which would leave workers idle), every video
    is a task of its own. The boxes are the same either way (up to the
    detector's rounding, which depends a little on what else is in a batch)
    and are cached per video.
    """
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    by_session = batch_views and len({job.session.name for job in jobs}) >= workers
    groups: dict[str, list] = {}
    for job in jobs:
        groups.setdefault(job.session.name if by_session else job.key, []).append(job)
    tasks = [(group, settings, str(cache_dir)) for group in groups.values()]
    by_key = {job.key: job for job in jobs}
    results = {}
    # Progress in frames (label rows of each video), so the bar shows frames/s.
    total = sum(len(job.session.frame_numbers) for job in jobs if job.session.frame_numbers is not None)
    bar = tqdm(total=total, unit="frame", desc="faces", disable=not progress, smoothing=0.1)

    def take(task_results):
        for key, split, paired, dropped, detected, problems in task_results:
            results[key] = {
                "split": split,
                "frames": paired,
                "dropped": dropped,
                "detector_frames": detected,
                "problems": problems,
            }
            job = by_key[key]
            bar.update(len(job.session.frame_numbers) if job.session.frame_numbers is not None else paired)

    try:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                take(_faces_job(task))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(workers, len(tasks)), initializer=_quiet_worker) as pool:
                for task_results in pool.imap_unordered(_faces_job, tasks, chunksize=1):
                    take(task_results)
    finally:
        bar.close()
    return results


def faces_cached(jobs: list, settings, cache_dir: Path) -> bool:
    """Whether the face cache holds the faces of every video of `jobs` (then `find_faces` detects nothing)."""
    from aufera.data.faces import FaceCache, FaceDetector

    if not jobs or not Path(cache_dir).is_dir():
        return False
    cache, tag = FaceCache(cache_dir), FaceDetector().cache_tag  # the tag of the workers' detector; no model loaded
    videos = [Path(job.session.videos[job.view]) for job in jobs]
    return all(video.is_file() and cache.path(video, settings, tag).is_file() for video in videos)


def remove_incomplete(data_path: Path) -> list[Path]:
    """Removes the `incomplete.*` folders that killed runs left beside the dataset folder; returns them.

    TFDS writes a dataset into `incomplete.<random>_<version>` and renames it
    when complete; it removes the folder on an error, but a run killed with
    SIGKILL (or a lost machine) leaves it, with every shard written so far.
    """
    import shutil

    removed = []
    for path in sorted(Path(data_path).parent.glob(f"incomplete.*_{Path(data_path).name}")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _quiet_worker():
    from aufera.quiet import quiet_tensorflow
    from aufera.workers import exit_with_parent

    exit_with_parent()  # a rerun after a kill of this command never races an orphaned worker
    quiet_tensorflow()  # the worker imports TensorFlow (MTCNN) itself
    import cv2

    cv2.setNumThreads(1)


def train_mean(builder) -> np.ndarray:
    """Mean image (float32, S x S x 1, pixel values 0-255) of the training split."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(split="train", shuffle_files=False)
    ds = ds.map(lambda x: x["image"], num_parallel_calls=tf.data.AUTOTUNE).batch(512)
    total, count = None, 0
    # Exact integer sums (uint8 batches summed as uint64): the float64 sums this replaced gave the same.
    for batch in tfds.as_numpy(ds.prefetch(2)):
        s = batch.sum(axis=0, dtype=np.uint64)
        total = s if total is None else total + s
        count += len(batch)
    if count == 0:
        raise AuferaError(f"{builder.data_dir}: the training split is empty; no mean image")
    return (total / count).astype(np.float32)


def dataset_counts(builder) -> dict:
    """Frames per split, view and subject, and AU base rates, read from the dataset."""
    import tensorflow_datasets as tfds

    out = {}
    for split in builder.info.splits:
        ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
        views, subjects = Counter(), Counter()
        present = np.zeros(NUM_AUS)
        known = np.zeros(NUM_AUS)
        n = 0
        for ex in tfds.as_numpy(ds.batch(1024)):
            n += len(ex["view"])
            views.update((ex["view"] + 1).tolist())
            subjects.update(s.decode() for s in ex["subject"])
            present += (ex["au"] == 1).sum(0)
            known += (ex["au"] != 0).sum(0)
        out[split] = {
            "frames": n,
            "frames_per_view": {str(v): views[v] for v in range(1, 10)},
            "frames_per_subject": dict(sorted(subjects.items())),
            "au_base_rates": {
                k: float(p / k_) if k_ else None for k, p, k_ in zip(AU_KEYS, present, known, strict=True)
            },
            "unknown_share": float(1 - known.sum() / (n * NUM_AUS)) if n else 0.0,
        }
    return out


def prepare(
    data_dir,
    out,
    image_size: int = 132,
    workers: int = 1,
    face: dict | None = None,
    beam: bool = False,
    progress: bool = True,
    batch_views: bool = True,
) -> dict:
    """Builds the dataset; returns the report (also written beside the dataset).

    `batch_views`: find the faces of a session's views together, their
    keyframes in one detector call (see `find_faces`); False finds them video
    by video. Speed only: the boxes are the same.

    Raises:
        AuferaError: no usable session in `data_dir`.
        WriteError: a file cannot be written (no space left), naming it (a
            face cache file, the mean image, a report) or the dataset folder
            (its shards). Nothing is left that reads as complete; rerunning
            after space is freed reuses the faces already cached.
    """
    import tensorflow_datasets as tfds

    from aufera.data.fera2017 import find_sessions
    from aufera.data.fera2017_dataset import Fera2017, VideoJob

    face = dict(face or {})
    config = dataset_config(image_size, face)
    builder = Fera2017(config=config, data_dir=str(out))
    config = builder.builder_config
    settings = builder.face_settings()
    data_path = Path(builder.data_dir)
    if builder.is_prepared() and (data_path / PREPARE_REPORT_JSON).exists():
        # Finished earlier, report included: nothing to do.
        return json.loads((data_path / PREPARE_REPORT_JSON).read_text())
    sessions, problems = find_sessions(Path(data_dir))
    if not sessions:
        raise AuferaError(f"{data_dir}: no usable FERA 2017 session ({len(problems)} problems)")
    videos = {}
    jobs = [VideoJob(s, v) for s in sessions for v in s.views]
    prepared = builder.is_prepared()
    # A run killed after the dataset was renamed into place, before its report, left every face in the cache:
    # the rerun reads the counts of frames without a face back from it (no detection), as the first run had them.
    if not prepared or faces_cached(jobs, settings, builder.cache_dir()):
        videos = find_faces(jobs, settings, builder.cache_dir(), workers, progress, batch_views)
        for result in videos.values():
            problems.extend(result.pop("problems"))
    # else: the shards were written elsewhere (e.g. `tfds build` on a cluster);
    # only the mean image and the report are missing, and the drop counts are
    # not known here.
    if not prepared:
        remove_incomplete(data_path)
    download_config = tfds.download.DownloadConfig(manual_dir=str(data_dir))
    builder.example_workers = max(workers, 1)  # in-process mode: videos cropped and encoded in worker processes
    if beam:
        import apache_beam as beam_lib

        download_config.beam_options = beam_lib.options.pipeline_options.PipelineOptions(
            runner="DirectRunner", direct_num_workers=max(workers, 1), direct_running_mode="multi_processing"
        )
    if not progress:
        tfds.disable_progress_bar()  # TFDS's own bars (writing and shuffling the shards) follow `progress` too
    try:
        # TFDS writes the shards into a temporary folder beside the dataset's (`incomplete.*`) that it removes
        # on failure; a failed write there (a full disk) is named as the dataset folder.
        with writing(data_path, data_path.parent):
            builder.download_and_prepare(download_config=download_config)
    finally:
        if not progress:
            tfds.enable_progress_bar()
    mean_path = data_path / MEAN_FILE
    if not mean_path.exists():
        mean = train_mean(builder)
        atomic_write(mean_path, lambda p: np.save(p, mean))
    counts = dataset_counts(builder)
    dropped = Counter()
    for result in videos.values():
        dropped[result["split"]] += result["dropped"]
    report = {
        "dataset": str(data_path),
        # The synthetic corpus carries its manifest; results on it are labelled as synthetic.
        "synthetic": (Path(data_dir) / GROUNDTRUTH_DIR / CORPUS_MANIFEST).exists(),
        "config": config.name,
        "image_size": image_size,
        "face": settings.to_dict(),
        "mean_image": MEAN_FILE,
        "splits": counts,
        "dropped_frames": {
            "no_face": dict(dropped) if videos else None,
            "per_video": {k: v["dropped"] for k, v in sorted(videos.items()) if v["dropped"]},
        },
        "detector_frames": sum(v["detector_frames"] for v in videos.values()),
        "skipped": [{"path": str(p.path), "kind": p.kind, "reason": p.reason} for p in problems],
    }
    atomic_write_text(data_path / PREPARE_REPORT_JSON, json.dumps(report, indent=2) + "\n")
    atomic_write_text(data_path / PREPARE_REPORT_MD, report_markdown(report))
    return report


def _dropped(report: dict, split: str) -> str:
    no_face = report["dropped_frames"]["no_face"]
    return "unknown" if no_face is None else str(no_face.get(split, 0))


def report_markdown(report: dict) -> str:
    lines = [f"# Dataset report: {report['config']}", "", f"Dataset: `{report['dataset']}`", ""]
    lines += ["| split | frames | dropped (no face) | unknown labels |", "|---|---|---|---|"]
    for split, c in report["splits"].items():
        lines.append(f"| {split} | {c['frames']} | {_dropped(report, split)} | {c['unknown_share']:.3f} |")
    lines += [
        "",
        "Frames per view:",
        "",
        "| split | " + " | ".join(f"view {v}" for v in range(1, 10)) + " |",
        "|---|" + "---|" * 9,
    ]
    for split, c in report["splits"].items():
        lines.append(f"| {split} | " + " | ".join(str(c["frames_per_view"][str(v)]) for v in range(1, 10)) + " |")
    lines += [
        "",
        "AU base rates (share of known labels present):",
        "",
        "| split | " + " | ".join(AU_KEYS) + " |",
        "|---|" + "---|" * NUM_AUS,
    ]
    for split, c in report["splits"].items():
        rates = c["au_base_rates"]
        lines.append(
            f"| {split} | " + " | ".join("-" if rates[k] is None else f"{rates[k]:.2f}" for k in AU_KEYS) + " |"
        )
    lines += ["", "Frames per subject:", ""]
    for split, c in report["splits"].items():
        lines.append(f"- {split}: " + ", ".join(f"{s} {n}" for s, n in c["frames_per_subject"].items()))
    lines += ["", f"Files skipped or changed: {len(report['skipped'])}", ""]
    lines += [f"- `{p['path']}`: {p['reason']}" for p in report["skipped"]]
    return "\n".join(lines) + "\n"


def summary_lines(report: dict) -> list[str]:
    out = [f"dataset: {report['dataset']} (open with tfds.builder_from_directory)"]
    for split, c in report["splits"].items():
        rates = " ".join(f"{k} {c['au_base_rates'][k]:.2f}" for k in AU_KEYS if c["au_base_rates"][k] is not None)
        out.append(f"{split}: {c['frames']} frames, {_dropped(report, split)} dropped (no face); AU base rates {rates}")
    out.append(
        f"files skipped or changed: {len(report['skipped'])}; mean image: {report['mean_image']}; "
        f"report: {PREPARE_REPORT_MD}"
    )
    return out
