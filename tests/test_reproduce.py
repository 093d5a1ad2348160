"""`aufera reproduce` end to end on a tiny synthetic corpus."""

import json

from aufera import reproduce as rep
from aufera.cli import main


def test_reproduce_runs_every_step_and_prints_both_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rep, "QUICK_SYNTH", {"train_subjects": 2, "valid_subjects": 1, "tasks": 1, "frames": 4})
    monkeypatch.setattr(rep, "QUICK_TRAIN", ["epochs_network1=1", "epochs_network2=1", "max_steps_per_epoch=2"])
    result = rep.reproduce(tmp_path, seed=3, quick=True, workers=1, progress=False)
    assert result["synthetic"] is True and result["run_dir"] == tmp_path / "run" and result["seconds"] > 0
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["fusion"]["f1"]["mean"] == result["metrics"]["fusion"]["f1"]["mean"]
    for part in ("corpus/groundtruth/corpus.json", "data", "run/network1.keras", "run/network2.keras", "run/table1.md"):
        assert (tmp_path / part).exists(), part
    # The seed drives the corpus.
    manifest = json.loads((tmp_path / "corpus" / "groundtruth" / "corpus.json").read_text())
    assert manifest["config"]["seed"] == 3
    # The command prints the tables (the library prints none); a rerun resumes the finished run.
    capsys.readouterr()
    assert main(["reproduce", "--out", str(tmp_path), "--seed", "3", "--quick", "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Table 1" in printed and "Table 2" in printed and "synthetic corpus" in printed
    # The paper's fusion mean F1 (Table 1) and accuracy (Table 2) are printed beside ours.
    assert "0.547" in printed  # He et al. Table 1, fusion mean F1
    assert "0.817" in printed  # He et al. Table 2, fusion mean accuracy
    assert f"{written['fusion']['f1']['mean']:.3f}" in printed
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == written  # same models, same numbers


def test_reproduce_drml_shares_the_corpus_and_prints_both_drml_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rep, "QUICK_SYNTH", {"train_subjects": 2, "valid_subjects": 1, "tasks": 1, "frames": 4})
    monkeypatch.setattr(
        rep,
        "QUICK_DRML_TRAIN",
        ["epochs_drml=1", "max_steps_per_epoch=2", "batch_size=4", "runtime.jit_compile=false"],
    )
    result = rep.reproduce_drml(tmp_path, seed=1, quick=True, workers=1, progress=False)
    assert result["synthetic"] is True and set(result["metrics"]) == {"ConvNet", "DRML"}
    for name, folder in (("ConvNet", "run-convnet"), ("DRML", "run-drml")):
        assert result["run_dirs"][name] == tmp_path / folder
        written = json.loads((tmp_path / folder / "metrics.json").read_text())
        assert written["model"] == name and written == result["metrics"][name]
        assert result["times"][name]["train"] > 0 and result["times"][name]["test"] > 0
    assert (tmp_path / "data" / "fera2017" / "200").is_dir() and (tmp_path / "corpus" / "groundtruth").is_dir()
    text = (tmp_path / rep.DRML_TABLES_FILE).read_text()
    assert text.strip() == result["text"]
    # Ours per AU beside the paper's means (Table 2) and its K40c times (Table 4).
    drml = result["metrics"]["DRML"]["drml"]
    assert f"{drml['f1']['AU1']:.3f}" in text and "0.483" in text and "0.560" in text
    assert "19.1" in text and "6.4" in text and "2.98x" in text
    ratio = result["times"]["DRML"]["train"] / result["times"]["ConvNet"]["train"]
    assert f"{ratio:.2f}x" in text
    # The command prints the same tables; the rerun reuses the finished runs.
    capsys.readouterr()
    argv = ["reproduce", "--paper", "drml", "--out", str(tmp_path), "--seed", "1", "--quick", "--workers", "1"]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "ConvNet vs DRML" in printed and "Table 4" in printed
    assert json.loads((tmp_path / "run-drml" / "metrics.json").read_text()) == result["metrics"]["DRML"]


def test_reproduce_chu_writes_its_corpus_trains_three_runs_and_prints_both_tables(tmp_path, monkeypatch, capsys):
    quick_corpus = {"train_subjects": 2, "valid_subjects": 1, "frames": 16, "size": 96, "views": (5,)}
    monkeypatch.setattr(rep, "QUICK_CHU_SYNTH", quick_corpus)
    monkeypatch.setattr(
        rep,
        "QUICK_CHU_TRAIN",
        [
            "epochs_chu_cnn=1",
            "max_steps_per_epoch=2",
            "batch_size=8",
            "epochs_chu_lstm=1",
            "epochs_chu_fusion=1",
            "sequence.length=10",
            "sequence.burn_in=2",
            "sequence.per_video=2",
            "sequence.min_active_aus=none",
            "runtime.jit_compile=false",
        ],
    )
    result = rep.reproduce_chu(tmp_path, seed=2, quick=True, workers=1, progress=False)
    assert result["synthetic"] is True and set(result["samplers"]) == {"random", "stratified", "momu"}
    manifest = json.loads((tmp_path / "corpus-chu" / "groundtruth" / "corpus.json").read_text())
    assert manifest["config"]["seed"] == 2 and manifest["config"]["frames"] == 16
    assert manifest["config"]["smoothness"] == rep.CHU_SYNTH["smoothness"]
    assert (tmp_path / "data-chu" / "fera2017" / "200").is_dir()
    for sampler, folder in (("random", "run-chu"), ("stratified", "run-chu-stratified"), ("momu", "run-chu-momu")):
        written = json.loads((tmp_path / folder / "metrics.json").read_text())
        assert written == json.loads(json.dumps(result["samplers"][sampler])) and written["sampler"] == sampler
    assert set(result["metrics"]["chu2019"]) == {"cnn", "lstm", "fusion"}
    assert set(result["samplers"]["momu"]["chu2019"]) == {"cnn"}  # the CNN alone
    assert (tmp_path / "run-chu" / "cnn_lstm.keras").is_file()
    assert not (tmp_path / "run-chu-momu" / "cnn_lstm.keras").exists()
    text = (tmp_path / rep.CHU_TABLES_FILE).read_text()
    assert text.strip() == result["text"]
    fusion = result["metrics"]["chu2019"]["fusion"]
    assert f"{fusion['f1_event']['AU12']:.3f}" in text
    assert "0.532" in text and "0.486" in text  # the paper's BP4D 3-fold means, CNN+LSTM and CNN
    assert "0.67" in text  # its Table 4 MOMU mean
    capsys.readouterr()
    argv = ["reproduce", "--paper", "chu2019", "--out", str(tmp_path), "--seed", "2", "--quick", "--workers", "1"]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "CNN vs LSTM vs CNN+LSTM" in printed and "Tables 3-4" in printed
    assert json.loads((tmp_path / "run-chu" / "metrics.json").read_text())["chu2019"] == json.loads(
        json.dumps(result["metrics"]["chu2019"])
    )
