"""`aufera prepare`: a FERA 2017 copy (or the synthetic corpus) -> the TFDS dataset.

Steps:
    1. find the sessions and read the label files (`aufera.data.fera2017`);
    2. find the face in every frame of every video, in parallel over videos,
       and cache the boxes per video (`aufera.data.faces`), so a rerun after
       a crash does not detect again;
    3. build the TFDS dataset (`aufera.data.fera2017_dataset.Fera2017`),
       in-process or as an Apache Beam pipeline;
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
from aufera.files import atomic_write, atomic_write_text


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
    """Worker: finds the faces of one video (through the cache) and collects reader problems."""
    from aufera.data import fera2017_dataset as ds
    from aufera.data.faces import FaceCache, video_faces
    from aufera.data.fera2017 import iter_frames

    video_job, settings, cache_dir = job
    session, view = video_job.session, video_job.view
    problems = []
    try:
        faces = video_faces(Path(session.videos[view]), ds._detector(), settings, cache=FaceCache(cache_dir))
    except AuferaError:
        faces = None  # undecodable: the reader reports it below
    # Pairing with the label rows decides which frames are used; count the
    # paired frames without a face, and let the reader report count faults.
    paired = sum(1 for _ in iter_frames(session, view, problems))
    if faces is None:
        return video_job.key, session.split.name, paired, paired, 0, problems
    boxes = np.asarray(faces.boxes, dtype=np.float64).reshape(-1, 4)[:paired]
    dropped = int((~np.all(np.isfinite(boxes), axis=1)).sum() + max(paired - len(boxes), 0))
    return video_job.key, session.split.name, paired, dropped, int(faces.detected_frames), problems


def find_faces(jobs: list, settings, cache_dir: Path, workers: int, progress: bool = True) -> dict:
    """Step 2: faces of every video, in `workers` processes; returns per-video counts and problems."""
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(job, settings, str(cache_dir)) for job in jobs]
    by_key = {job.key: job for job in jobs}
    results = {}
    # Progress in frames (label rows of each video), so the bar shows frames/s.
    total = sum(len(job.session.frame_numbers) for job in jobs if job.session.frame_numbers is not None)
    bar = tqdm(total=total, unit="frame", desc="faces", disable=not progress, smoothing=0.1)

    def take(result):
        key, split, paired, dropped, detected, problems = result
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
                for result in pool.imap_unordered(_faces_job, tasks, chunksize=1):
                    take(result)
    finally:
        bar.close()
    return results


def _quiet_worker():
    from aufera.quiet import quiet_tensorflow

    quiet_tensorflow()  # the worker imports TensorFlow (MTCNN) itself
    import cv2

    cv2.setNumThreads(1)


def train_mean(builder) -> np.ndarray:
    """Mean image (float32, S x S x 1, pixel values 0-255) of the training split."""
    import tensorflow as tf

    ds = builder.as_dataset(split="train", shuffle_files=False)
    ds = ds.map(lambda x: tf.cast(x["image"], tf.float64), num_parallel_calls=tf.data.AUTOTUNE).batch(512)
    total, count = None, 0
    for batch in ds.prefetch(2):
        s = tf.reduce_sum(batch, axis=0).numpy()
        total = s if total is None else total + s
        count += int(batch.shape[0])
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
) -> dict:
    """Builds the dataset; returns the report (also written beside the dataset)."""
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
    if not builder.is_prepared():
        jobs = [VideoJob(s, v) for s in sessions for v in s.views]
        videos = find_faces(jobs, settings, builder.cache_dir(), workers, progress)
        for result in videos.values():
            problems.extend(result.pop("problems"))
    # else: the shards were written elsewhere (e.g. `tfds build` on a cluster);
    # only the mean image and the report are missing, and the drop counts are
    # not known here.
    download_config = tfds.download.DownloadConfig(manual_dir=str(data_dir))
    if beam:
        import apache_beam as beam_lib

        download_config.beam_options = beam_lib.options.pipeline_options.PipelineOptions(
            runner="DirectRunner", direct_num_workers=max(workers, 1), direct_running_mode="multi_processing"
        )
    if not progress:
        tfds.disable_progress_bar()  # TFDS's own bars (writing and shuffling the shards) follow `progress` too
    try:
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
