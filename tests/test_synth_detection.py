"""The real detector finds the synthetic faces (slow: MTCNN on every frame)."""

import pytest

from aufera.synth.config import SynthConfig
from aufera.synth.writer import write_corpus


@pytest.mark.slow
def test_mtcnn_finds_the_face_in_every_view(tmp_path):
    from aufera.synth.check import detection_report

    write_corpus(
        tmp_path, SynthConfig(train_subjects=2, valid_subjects=1, tasks=1, frames=24, seed=7), workers=2, progress=False
    )
    report = detection_report(tmp_path, every=1, progress=False)
    for view, r in report.items():
        assert r["frames"] == 3 * 24
        assert r["detection_rate"] >= 0.95, (view, r)
        assert r["iou_0.6_rate"] >= 0.95, (view, r)
