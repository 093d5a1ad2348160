"""The FERA 2017 TFDS dataset: 132x132 grayscale face crops with AU and view labels.

`Fera2017` is a tensorflow-datasets `GeneratorBasedBuilder`. It reads a FERA
2017 copy (or the synthetic corpus, which has the same layout) from the
manual folder, finds the face in every frame of every view with MTCNN
(`aufera.data.faces`: detection on keyframes, tracking in between, cached per
video), crops a square around it, turns it grayscale and resizes it, and
writes TFRecord shards. Features (the dataset contract):

    image    uint8 (S, S, 1), PNG-encoded; S = 132 by default
    au       int8 (10,), +1 present, -1 absent, 0 unknown, in AU order
    view     class label 0-8 (FERA view number - 1)
    subject  text, e.g. "F001"
    task     text, e.g. "T1"
    frame    int64, the frame number from the label file

Splits: "train" (FERA17_Train_MV) and "validation" (FERA17_Valid_MV).

Generation runs in-process, or as an Apache Beam pipeline when the download
config names a Beam runner or pipeline options (tensorflow-datasets' Beam
mode): one element per video, so a cluster runner spreads the videos over
its workers. In-process, `example_workers` (set by `aufera prepare
--workers N`; 1 when unset) processes decode, crop and PNG-encode the videos
(`aufera.data.examples`) while this process serialises and writes.

Build it with `aufera prepare` (which also computes the training mean image
and writes the report), or with the tensorflow-datasets CLI:

    tfds build --imports aufera.data.fera2017_dataset fera2017 \
        --manual_dir FERA_ROOT --data_dir OUT_DIR --config 132
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from aufera.au import NUM_AUS, NUM_VIEWS

# VideoJob, _detector and png_bytes are also used through this module (aufera prepare, tests).
from aufera.data.examples import VideoJob, _detector, parallel_examples, png_bytes, video_examples  # noqa: F401

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
FERA 2017 is licensed and cannot be downloaded automatically. Request it from
the FERA 2017 organisers (BP4D and BP4D+, Binghamton University), then put
the folders you received into one folder, FERA_ROOT:

    FERA_ROOT/FERA17_Train_MV/FERA17_TR_<Subject>_<Task>_<view>.mp4
    FERA_ROOT/Train_Occ/FERA17_TR_<Subject>_<Task>.csv
    FERA_ROOT/FERA17_Valid_MV/FERA17_VA_<Subject>_<Task>_<view>.mp4
    FERA_ROOT/Valid_Occ/FERA17_VA_<Subject>_<Task>.csv

and pass it as the manual folder (`aufera prepare --data-dir FERA_ROOT`, or
`tfds build ... --manual_dir FERA_ROOT`). Without the licensed data,
`aufera synth FERA_ROOT` writes aufera's synthetic corpus in the same layout.
"""


@dataclasses.dataclass
class Fera2017Config(tfds.core.BuilderConfig):
    """A crop size and the face-finding settings.

    Args:
        image_size: int. Side of the square crop (132 for He et al., 170 for
            DRML, 200 for the CNN-LSTM). Defaults to 132.
        face: dict. `aufera.data.faces.FaceConfig` arguments other than the
            crop size (e.g. margin, detect_every). Defaults to its defaults.
    """

    image_size: int = 132
    face: dict = dataclasses.field(default_factory=dict)


def _config(size: int) -> Fera2017Config:
    return Fera2017Config(
        name=str(size), image_size=size, description=f"{size}x{size} grayscale face crops", version="1.0.0"
    )


class Fera2017(tfds.core.GeneratorBasedBuilder):
    """FERA 2017 multi-view AU dataset of face crops (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Face crops found by MTCNN with keyframe tracking; labels +1/-1/0."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [_config(132), _config(170), _config(200)]
    DEFAULT_CONFIG_NAME = "132"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 1), dtype=np.uint8, encoding_format="png"),
                    "au": tfds.features.Tensor(shape=(NUM_AUS,), dtype=np.int8),
                    "view": tfds.features.ClassLabel(names=[str(v) for v in range(1, NUM_VIEWS + 1)]),
                    "subject": tfds.features.Text(),
                    "task": tfds.features.Text(),
                    "frame": tfds.features.Scalar(dtype=np.int64),
                }
            ),
            supervised_keys=None,
            citation=(
                "@article{he2019multiview, title={Facial Action Unit Detection with Multilayer Fused Multi-Task and "
                "Multi-Label Deep Learning Network}, author={He, Jun and Li, Dongliang and Bo, Sun and Yu, Lejun}, "
                "journal={KSII Transactions on Internet and Information Systems}, year={2019}}"
            ),
            metadata=tfds.core.MetadataDict(),
        )

    # === Generation ===

    def _download_and_prepare(self, dl_manager, download_config=None):
        # Beam mode when the caller asked for a runner or pipeline options.
        self._use_beam = bool(download_config and (download_config.beam_runner or download_config.beam_options))
        return super()._download_and_prepare(dl_manager, download_config)

    def _split_generators(self, dl_manager):
        from aufera.data.fera2017 import find_sessions

        sessions, problems = find_sessions(Path(dl_manager.manual_dir))
        self.problems = list(problems)
        jobs = {"train": [], "validation": []}
        for session in sessions:
            for view in session.views:
                jobs[session.split.name].append(VideoJob(session, view))
        self.jobs = jobs
        return {name: self._generate_examples(name, video_jobs) for name, video_jobs in jobs.items()}

    def face_settings(self):
        from aufera.data.faces import FaceConfig

        return FaceConfig(**{**self.builder_config.face, "image_size": self.builder_config.image_size})

    def cache_dir(self) -> Path:
        return Path(self.data_dir_root) / "face_cache"

    def _generate_examples(self, split: str, jobs: list):
        settings = self.face_settings()
        cache_dir = str(self.cache_dir())
        if getattr(self, "_use_beam", False):
            beam = tfds.core.lazy_imports.apache_beam
            return (
                f"videos_{split}" >> beam.Create(jobs)
                | f"crops_{split}" >> beam.FlatMap(video_examples, settings, cache_dir)
                | f"count_{split}" >> beam.Map(_count_beam)
            )
        workers = int(getattr(self, "example_workers", 1))
        if workers > 1 and len(jobs) > 1:
            # `aufera prepare --workers N`: the videos are cropped and encoded in worker processes.
            return parallel_examples(jobs, settings, cache_dir, min(workers, len(jobs)))
        return (item for job in jobs for item in video_examples(job, settings, cache_dir))


def _count_beam(item):
    tfds.core.lazy_imports.apache_beam.metrics.Metrics.counter("fera2017", "examples").inc()
    return item
