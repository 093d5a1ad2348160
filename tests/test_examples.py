"""The example scripts in examples/: argument handling, the sampling table, and (slow) tiny end-to-end runs.

The `--quick` runs take minutes on 2 CPU cores (see examples/README.md), so
the default tests check the pure parts: argument parsing, the overrides and
corpus settings each script derives from `aufera.reproduce.QUICK_SYNTH` and
`QUICK_TRAIN`, bad input as one line with exit status 2, and the Chu et al.
Table 3 layout built from hand-made metrics. The end-to-end runs, on an even
smaller corpus, are marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from aufera import reproduce as aufera_reproduce
from aufera.au import AU_KEYS
from aufera.synth.config import SynthConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"aufera_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def repro():
    return _load("reproduce_fera2017")


@pytest.fixture(scope="module")
def sampling():
    return _load("sampling_comparison")


def _metrics(values: dict[str, float], model: str = "network1") -> dict:
    """A metrics.json-like dict whose `model` F1 is `values` (AU key -> F1) with their mean."""
    f1 = dict(values)
    f1["mean"] = sum(values.values()) / len(values)
    return {model: {"f1": f1, "accuracy": dict(f1)}}


# === reproduce_fera2017 ===


def test_reproduce_parses_arguments_with_the_documented_defaults(repro):
    args = repro.build_parser().parse_args([])
    from aufera.synth.config import default_workers

    assert (args.data_dir, args.out, args.seed, args.quick, args.workers) == (
        None,
        "reproduction_example",
        0,
        False,
        default_workers(),  # the options of aufera reproduce (validators.add_reproduction_options)
    )
    args = repro.build_parser().parse_args(
        ["--data-dir", "F", "--out", "o", "--seed", "4", "--quick", "--workers", "2"]
    )
    assert (args.data_dir, args.out, args.seed, args.quick, args.workers) == ("F", "o", 4, True, 2)


def test_reproduce_quick_settings_come_from_aufera_reproduce(repro):
    quick = repro.build_parser().parse_args(["--quick", "--seed", "7"])
    assert repro.train_overrides(quick) == ["seed=7", *aufera_reproduce.QUICK_TRAIN]
    synth = repro.synth_config(quick)
    assert synth.seed == 7
    for key, value in aufera_reproduce.QUICK_SYNTH.items():
        assert getattr(synth, key) == value
    full = repro.build_parser().parse_args(["--seed", "7"])
    assert repro.train_overrides(full) == ["seed=7"]
    assert repro.synth_config(full) == SynthConfig(seed=7)  # the default corpus


def test_reproduce_presets_are_those_of_aufera_reproduce(repro):
    from aufera.config import TRAIN_PRESETS

    assert (repro.SYNTHETIC_PRESET, repro.FERA_PRESET) == ("cpu-small", "paper")
    assert repro.SYNTHETIC_PRESET in TRAIN_PRESETS and repro.FERA_PRESET in TRAIN_PRESETS


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "reproduce_fera2017: error: argument --seed: expected a whole number >= 0, got '-1'"),
        (["--workers", "0"], "reproduce_fera2017: error: argument --workers: expected a whole number >= 1, got '0'"),
    ],
)
def test_reproduce_bad_input_is_one_line_and_status_2(repro, tmp_path, capsys, argv, message):
    assert repro.main([*argv, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"{message} (see reproduce_fera2017 --help)\n"
    assert not (tmp_path / "out").exists()


def test_reproduce_missing_data_dir_is_one_line_and_status_2(repro, tmp_path, capsys):
    missing = tmp_path / "no_fera"
    assert repro.main(["--data-dir", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"reproduce_fera2017: error: --data-dir {missing}: not a folder\n"


# === drml_region_layer: arguments, settings, the hand check of the region layer ===


@pytest.fixture(scope="module")
def drml_example():
    return _load("drml_region_layer")


def test_drml_example_settings_are_those_of_aufera_reproduce(drml_example):
    from aufera import reproduce as rep

    args = drml_example.build_parser().parse_args([])
    assert (args.out, args.seed, args.quick, args.data_dir) == ("drml_example", 0, False, None)
    assert drml_example.DRML_SYNTHETIC_PRESETS is rep.DRML_SYNTHETIC_PRESETS
    assert drml_example.QUICK_DRML_TRAIN is rep.QUICK_DRML_TRAIN and drml_example.DRML_IMAGE_SIZE == 200


def test_drml_example_checks_the_region_layer_cell_by_cell(drml_example):
    assert drml_example.check_region_layer() < 1e-5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "drml_region_layer: error: argument --seed: expected a whole number >= 0, got '-1'"),
        (["--data-dir", "{missing}"], "drml_region_layer: error: --data-dir {missing}: not a folder"),
    ],
)
def test_drml_example_bad_input_is_one_line_and_status_2(drml_example, tmp_path, capsys, argv, message):
    argv = [a.format(missing=tmp_path / "none") for a in argv]
    assert drml_example.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(missing=tmp_path / "none")) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# === cnn_lstm_chu2019: arguments and settings ===


@pytest.fixture(scope="module")
def chu_example():
    return _load("cnn_lstm_chu2019")


def test_chu_example_settings_are_those_of_aufera_reproduce(chu_example):
    from aufera import reproduce as rep

    args = chu_example.build_parser().parse_args(["--seed", "3"])
    assert (args.out, args.seed, args.quick, args.data_dir) == ("cnn_lstm_example", 3, False, None)
    assert chu_example.train_overrides(args) == ["seed=3"]
    assert chu_example.synth_config(args) == rep.chu_corpus_config(3)
    quick = chu_example.build_parser().parse_args(["--quick"])
    assert chu_example.train_overrides(quick) == ["seed=0", *rep.QUICK_CHU_TRAIN]
    corpus = chu_example.synth_config(quick)
    for key, value in {**rep.CHU_SYNTH, **rep.QUICK_CHU_SYNTH}.items():
        assert getattr(corpus, key) == (tuple(value) if isinstance(value, list) else value), key
    assert chu_example.CHU_SAMPLER_RUN_DIRS is rep.CHU_SAMPLER_RUN_DIRS


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "cnn_lstm_chu2019: error: argument --seed: expected a whole number >= 0, got '-1'"),
        (["--data-dir", "{missing}"], "cnn_lstm_chu2019: error: --data-dir {missing}: not a folder"),
    ],
)
def test_chu_example_bad_input_is_one_line_and_status_2(chu_example, tmp_path, capsys, argv, message):
    argv = [a.format(missing=tmp_path / "none") for a in argv]
    assert chu_example.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(missing=tmp_path / "none")) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# === sampling_comparison: arguments and configs ===


def test_sampling_parses_arguments_and_epoch_overrides(sampling):
    args = sampling.build_parser().parse_args([])
    assert (args.out, args.seed, args.quick, args.workers, args.epochs_network1, args.epochs_network2) == (
        "sampling_comparison_example",
        0,
        False,
        None,
        None,
        None,
    )
    args = sampling.build_parser().parse_args(
        ["--quick", "--seed", "3", "--epochs-network1", "5", "--epochs-network2", "4", "--out", "o"]
    )
    assert sampling.train_overrides(args, "momu") == [
        "seed=3",
        *aufera_reproduce.QUICK_TRAIN,
        "epochs_network1=5",
        "epochs_network2=4",
        "sampler=momu",
    ]


def test_sampling_configs_differ_in_the_sampler_only(sampling):
    args = sampling.build_parser().parse_args(["--quick", "--seed", "2", "--epochs-network2", "1"])
    configs = sampling.configs(args)
    assert list(configs) == ["random", "stratified", "momu"]
    assert [c.sampler for c in configs.values()] == ["random", "stratified", "momu"]
    base = configs["random"].to_dict()
    for config in configs.values():
        differing = {k for k, v in config.to_dict().items() if base[k] != v}
        assert differing <= {"sampler"}
    assert configs["momu"].seed == 2 and configs["momu"].preset == "cpu-small"
    assert configs["momu"].epochs_network2 == 1
    quick = dict(item.split("=") for item in aufera_reproduce.QUICK_TRAIN)
    assert configs["momu"].epochs_network1 == int(quick["epochs_network1"])  # the quick training, from one place
    assert configs["momu"].batch_size == int(quick["batch_size"])


def test_sampling_momu_plans_as_many_batches_as_random(sampling):
    """The configs make aufera.training.plan_epoch give MOMU the batch count of random sampling."""
    import numpy as np

    from aufera.training import plan_epoch

    args = sampling.build_parser().parse_args([])
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((100, 10)) < 0.3, 1, -1).astype(np.int8)
    configs = sampling.configs(args)
    assert {c.batch_size for c in configs.values()} == {32}
    counts = {s: len(plan_epoch(c, labels, 0)) for s, c in configs.items()}
    assert counts == {"random": 4, "stratified": 4, "momu": 4}  # ceil(100 / 32)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-2"], "argument --seed: expected a whole number >= 0, got '-2'"),
        (["--workers", "0"], "argument --workers: expected a whole number >= 1, got '0'"),
        (["--epochs-network1", "0"], "argument --epochs-network1: expected a whole number >= 1, got '0'"),
        (["--epochs-network2", "-1"], "argument --epochs-network2: expected a whole number >= 1, got '-1'"),
    ],
)
def test_sampling_bad_input_is_one_line_and_status_2(sampling, tmp_path, capsys, argv, message):
    assert sampling.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"sampling_comparison: error: {message} (see sampling_comparison --help)\n"
    assert not (tmp_path / "out").exists()


# === sampling_comparison: the table ===


@pytest.fixture
def results():
    random = {k: 0.1 * (i + 1) for i, k in enumerate(AU_KEYS)}  # 0.1 ... 1.0, mean 0.55
    stratified = {k: 0.5 for k in AU_KEYS}
    momu = {k: 0.25 if i % 2 else 0.75 for i, k in enumerate(AU_KEYS)}  # mean 0.5
    return {"momu": _metrics(momu), "random": _metrics(random), "stratified": _metrics(stratified)}


def test_table_rows_follow_chu_table3_layout(sampling, results):
    header, rows = sampling.table_rows(results)
    assert header == ["AU", "RS", "MS", "MOMU"]
    assert [r[0] for r in rows] == [
        "AU1",
        "AU4",
        "AU6",
        "AU7",
        "AU10",
        "AU12",
        "AU14",
        "AU15",
        "AU17",
        "AU23",
        "Avg",
    ]
    assert rows[0] == ["AU1", "0.100", "0.500", "0.750"]
    assert rows[1] == ["AU4", "0.200", "0.500", "0.250"]
    assert rows[9] == ["AU23", "1.000", "0.500", "0.250"]
    assert rows[10] == ["Avg", "0.550", "0.500", "0.500"]


def test_table_uses_the_chosen_model_and_a_subset_of_samplers(sampling):
    metrics = _metrics({k: 0.3 for k in AU_KEYS}, model="fusion")
    metrics["network1"] = {"f1": {**{k: 0.9 for k in AU_KEYS}, "mean": 0.9}}
    header, rows = sampling.table_rows({"momu": metrics, "random": metrics})
    assert header == ["AU", "RS", "MOMU"]
    assert rows[10] == ["Avg", "0.900", "0.900"]  # Network1 by default
    _, rows = sampling.table_rows({"momu": metrics}, model="fusion")
    assert rows[0] == ["AU1", "0.300"] and rows[10] == ["Avg", "0.300"]


def test_table_rejects_bad_results(sampling):
    with pytest.raises(ValueError, match="unknown"):
        sampling.table_rows({"unknown": {}})
    with pytest.raises(ValueError, match="Received: \\[\\]"):
        sampling.table_rows({})
    incomplete = _metrics({k: 0.5 for k in AU_KEYS if k != "AU17"})
    with pytest.raises(ValueError, match="Metrics of sampler 'random' lack network1.f1.AU17"):
        sampling.table_rows({"random": incomplete})


def test_table_markdown_is_exact(sampling, results):
    text = sampling.table_markdown(results, notes=["Settings: test."])
    lines = text.splitlines()
    assert lines[0] == f"# {sampling.table_title()}"
    assert "F1 of Network1 (He et al. 2019)" in lines[0]
    assert "Synthetic-corpus results" in lines[0]
    assert lines[2] == sampling.LEGEND
    assert lines[4] == "| AU | RS | MS | MOMU |"
    assert lines[5] == "|---|---:|---:|---:|"
    assert lines[6] == "| AU1 | 0.100 | 0.500 | 0.750 |"
    assert lines[16] == "| Avg | 0.550 | 0.500 | 0.500 |"
    assert lines[17:] == ["", "Settings: test."]
    assert text.endswith("\n")


def test_table_text_is_aligned(sampling, results):
    lines = sampling.table_text(results, notes=["note"]).splitlines()
    assert lines[0] == sampling.table_title() and lines[1] == sampling.LEGEND
    assert lines[2] == "AU       RS     MS   MOMU"
    assert lines[3] == "----  -----  -----  -----"
    assert lines[4] == "AU1   0.100  0.500  0.750"
    assert lines[14] == "Avg   0.550  0.500  0.500"
    assert lines[15] == "note"


def test_settings_note_names_the_shared_settings_and_batch_counts(sampling):
    args = sampling.build_parser().parse_args(["--quick", "--seed", "1"])
    config = sampling.configs(args)["random"]
    synth = sampling.synth_config(args)
    note = sampling.settings_note(config, synth, {"random": 23, "stratified": 23, "momu": 23})
    quick = dict(item.split("=") for item in aufera_reproduce.QUICK_TRAIN)
    assert note == (
        f"Settings: preset cpu-small, Network1 {quick['epochs_network1']} epochs, "
        f"Network2 {quick['epochs_network2']} epochs, batch {quick.get('batch_size', 32)}, seed 1; corpus of "
        f"{aufera_reproduce.QUICK_SYNTH['train_subjects']} training and "
        f"{aufera_reproduce.QUICK_SYNTH['valid_subjects']} validation subjects; "
        "batches per epoch: RS 23, MS 23, MOMU 23."
    )


# === End to end, on a corpus smaller than --quick (minutes on 2 cores) ===

TINY_SYNTH = {"train_subjects": 2, "valid_subjects": 1, "tasks": 1, "frames": 4}
TINY_TRAIN = ["epochs_network1=1", "epochs_network2=1", "max_steps_per_epoch=2"]


@pytest.mark.slow
def test_reproduce_example_end_to_end(repro, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(aufera_reproduce, "QUICK_SYNTH", TINY_SYNTH)  # the one place the quick settings live
    monkeypatch.setattr(aufera_reproduce, "QUICK_TRAIN", TINY_TRAIN)
    assert repro.main(["--quick", "--quiet", "--workers", "1", "--seed", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    run = tmp_path / "run"
    for name in ("table1.md", "table2.md", "fig7_view_confusion.png", "metrics.json"):
        assert (run / name).is_file(), name
        assert str(run / name) in printed
    assert "0.547" in printed and "0.817" in printed  # He et al. fusion means, Tables 1 and 2
    assert "synthetic corpus" in printed
    manifest = json.loads((tmp_path / "corpus" / "groundtruth" / "corpus.json").read_text())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["train_subjects"] == 2


@pytest.mark.slow
def test_sampling_example_end_to_end(sampling, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(aufera_reproduce, "QUICK_SYNTH", TINY_SYNTH)
    monkeypatch.setattr(aufera_reproduce, "QUICK_TRAIN", TINY_TRAIN)
    assert sampling.main(["--quick", "--quiet", "--workers", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    results = {s: json.loads((tmp_path / "runs" / s / "metrics.json").read_text()) for s in sampling.COLUMNS}
    table = (tmp_path / "sampling_comparison.md").read_text()
    assert table == sampling.table_markdown(results, notes=[table.splitlines()[-1]])
    assert "batches per epoch: RS 2, MS 2, MOMU 2." in table  # 2 steps each (max_steps_per_epoch=2)
    assert sampling.table_text(results, notes=[table.splitlines()[-1]]) in printed


# === predict_video and keras_app_transfer: using a trained model ===


@pytest.fixture(scope="module")
def predict_example():
    return _load("predict_video")


@pytest.fixture(scope="module")
def transfer_example():
    return _load("keras_app_transfer")


def test_predict_example_on_a_short_clip(predict_example, tmp_path, capsys):
    """The demo preset on a 2-second clip the example writes: the table, a plot, one row per frame."""
    import csv

    clip = predict_example.demo_clip(tmp_path / "clip.mp4", seconds=2.0, fps=10.0)
    assert predict_example.main([str(clip), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    with open(tmp_path / "out" / "clip.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    # 20 frames, the face gone for the one second (10 frames) from the middle on
    assert len(rows) == 20 and [r["success"] for r in rows] == ["1"] * 10 + ["0"] * 10
    assert "20 frames, 10 with a face" in out and (tmp_path / "out" / "clip_au.png").is_file()


def test_predict_example_bad_input_is_one_line_and_status_2(predict_example, tmp_path, capsys):
    assert predict_example.main([str(tmp_path / "none.mp4"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"predict_video: error: {tmp_path / 'none.mp4'}: video file does not exist\n"


def test_transfer_example_target_is_au6_and_au12_together(transfer_example):
    import numpy as np

    from aufera.au import AU_KEYS

    au = np.zeros((5, len(AU_KEYS)), np.int8)
    i6, i12 = AU_KEYS.index("AU6"), AU_KEYS.index("AU12")
    au[:, [i6, i12]] = [[1, 1], [1, -1], [-1, 0], [0, 1], [0, 0]]
    assert transfer_example.smile_target(au).tolist() == [1, 0, 0, -1, -1]


def test_transfer_example_bad_input_is_one_line_and_status_2(transfer_example, tmp_path, capsys):
    assert transfer_example.main(["--epochs", "0", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras_app_transfer: error: argument --epochs: expected a whole number >= 1, got '0'")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_transfer_example_end_to_end(transfer_example, tmp_path, capsys):
    """About 100 s on 2 cores: corpus, prepare, the new head, the preset reloaded with equal outputs."""
    assert transfer_example.main(["--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("held-out F1 of the smile head: "))
    f1 = float(line.split(": ")[1].split(" ")[0])
    always = float(line.split("(always present: ")[1].rstrip(")"))
    assert f1 > always and "outputs equal" in out


def test_serve_savedmodel_example_matches_aufera(predict_example, tmp_path, capsys):
    """The exported SavedModel on a short clip's crops: the same decisions as aufera's own route."""
    serve = _load("serve_savedmodel")
    clip = predict_example.demo_clip(tmp_path / "clip.mp4", seconds=2.0, fps=10.0)
    assert serve.main([str(clip), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "20 frames, 10 with a face" in out and "(decisions equal)" in out
    difference = float(out.split("largest difference from aufera's own route: ")[1].split(" ")[0])
    assert difference < 1e-4
    assert serve.main([str(clip), "--saved-model", str(tmp_path / "none"), "--out", str(tmp_path / "o2")]) == 2
