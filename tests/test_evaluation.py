"""Tests of aufera.evaluation: metrics against scikit-learn, eq. (5) by hand, report files, a saved run."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from model_harness import TINY_BACKBONE
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score  # noqa: E402

from aufera.au import AU_KEYS, NUM_AUS, NUM_VIEWS  # noqa: E402
from aufera.commands import evaluate as evaluate_command  # noqa: E402
from aufera.config import TrainConfig, save_config  # noqa: E402
from aufera.data.pipeline import SplitArrays  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.evaluation import (  # noqa: E402
    evaluate_predictions,
    evaluate_run,
    model_decisions,
    paper,
    resolve_data_dir,
    resolve_synthetic,
    tables_text,
    write_report,
)
from aufera.filenames import (  # noqa: E402
    CONFIG_FILE,
    FIGURE_FILES,
    METRICS_FILE,
    PREPARE_REPORT_JSON,
    TABLE_FILES,
    model_file,
    predictions_file,
)
from aufera.models import DecisionFusion, Network1, Network2, ResNetBackbone, fused_present, presets  # noqa: E402

N = 60


def softmax_pairs(rng, n):
    logits = rng.normal(size=(n, NUM_AUS, 2))
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def random_case(seed=0, n=N):
    rng = np.random.default_rng(seed)
    au_true = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.5, 0.15, 0.35]).astype(np.int8)
    view_true = rng.integers(0, NUM_VIEWS, size=n)
    view_scores = rng.normal(size=(n, NUM_VIEWS))
    view_scores[np.arange(n), view_true] += 1.5  # mostly right, some confusions
    outputs = {
        "network1": {"au": softmax_pairs(rng, n), "view": view_scores},
        "network2": {"au": softmax_pairs(rng, n)},
    }
    return au_true, view_true, outputs


def sklearn_per_au(au_true, decisions):
    f1, acc = [], []
    for k in range(NUM_AUS):
        known = au_true[:, k] != 0
        y = (au_true[known, k] == 1).astype(int)
        f1.append(f1_score(y, decisions[known, k], zero_division=0))
        acc.append(accuracy_score(y, decisions[known, k]))
    return np.array(f1), np.array(acc)


def check_against_sklearn(metrics, au_true, decisions, name):
    f1, acc = sklearn_per_au(au_true, decisions)
    np.testing.assert_allclose([metrics[name]["f1"][k] for k in AU_KEYS], f1, atol=1e-12)
    np.testing.assert_allclose([metrics[name]["accuracy"][k] for k in AU_KEYS], acc, atol=1e-12)
    assert metrics[name]["f1"]["mean"] == pytest.approx(f1.mean(), abs=1e-12)
    assert metrics[name]["accuracy"]["mean"] == pytest.approx(acc.mean(), abs=1e-12)


def test_evaluate_predictions_matches_sklearn_and_eq5_by_hand():
    au_true, view_true, outputs = random_case()
    metrics = evaluate_predictions(au_true, view_true, outputs)

    n1, n2 = outputs["network1"]["au"], outputs["network2"]["au"]
    check_against_sklearn(metrics, au_true, (n1[..., 0] > n1[..., 1]).astype(int), "network1")
    check_against_sklearn(metrics, au_true, (n2[..., 0] > n2[..., 1]).astype(int), "network2")
    # Eq. (5) by hand: sgn(sum_i w_i y_present - sum_i w_i y_absent), w = 0.5, 0.5.
    fused = np.sign(0.5 * n1[..., 0] + 0.5 * n2[..., 0] - 0.5 * n1[..., 1] - 0.5 * n2[..., 1])
    check_against_sklearn(metrics, au_true, (fused > 0).astype(int), "fusion")
    # The fusion really differs from both networks on this data (the test can fail).
    assert metrics["fusion"]["f1"] != metrics["network1"]["f1"]

    view_pred = outputs["network1"]["view"].argmax(axis=1)
    assert metrics["network1"]["view_accuracy"] == pytest.approx(accuracy_score(view_true, view_pred))
    expected = confusion_matrix(view_true, view_pred, labels=list(range(NUM_VIEWS)))
    np.testing.assert_array_equal(np.array(metrics["network1"]["view_confusion"]), expected)
    assert 0.3 < metrics["network1"]["view_accuracy"] < 1.0


def test_metrics_layout_is_the_run_directory_contract():
    au_true, view_true, outputs = random_case(1)
    metrics = json.loads(json.dumps(evaluate_predictions(au_true, view_true, outputs)))
    assert set(metrics) == {"network1", "network2", "fusion", "reference"}
    assert set(metrics["network1"]) == {"f1", "accuracy", "view_accuracy", "view_confusion"}
    assert set(metrics["network2"]) == set(metrics["fusion"]) == {"f1", "accuracy"}
    assert set(metrics["reference"]) == {"base_rate", "always_present_f1"}
    for name in ("network1", "network2", "fusion"):
        for metric in ("f1", "accuracy"):
            assert list(metrics[name][metric]) == [*AU_KEYS, "mean"]
    for metric in ("base_rate", "always_present_f1"):
        assert list(metrics["reference"][metric]) == [*AU_KEYS, "mean"]
    confusion = metrics["network1"]["view_confusion"]
    assert len(confusion) == 9 and all(len(row) == 9 for row in confusion)
    assert sum(map(sum, confusion)) == N


def test_reference_is_the_base_rate_and_the_always_present_f1():
    au_true, view_true, outputs = random_case(3)
    reference = evaluate_predictions(au_true, view_true, outputs)["reference"]
    for k, key in enumerate(AU_KEYS):
        known = au_true[:, k] != 0
        p = float(np.mean(au_true[known, k] == 1))
        assert reference["base_rate"][key] == pytest.approx(p, abs=1e-12)
        # Precision p, recall 1: F1 = 2p / (1 + p); and scikit-learn on all-present decisions agrees.
        assert reference["always_present_f1"][key] == pytest.approx(2 * p / (1 + p), abs=1e-12)
        y = (au_true[known, k] == 1).astype(int)
        assert reference["always_present_f1"][key] == pytest.approx(f1_score(y, np.ones_like(y)), abs=1e-12)
    text = tables_text(evaluate_predictions(au_true, view_true, outputs), synthetic=True)
    fusion = evaluate_predictions(au_true, view_true, outputs)["fusion"]["f1"]
    below = [key for key in AU_KEYS if fusion[key] <= reference["always_present_f1"][key]]
    assert below  # random outputs: some AUs are no better than always answering present
    assert f"(2p/(1+p)): {', '.join(below)};" in text


def test_fusion_weights_change_the_decision():
    au_true, view_true, outputs = random_case(2)
    only_second = evaluate_predictions(au_true, view_true, outputs, fusion_weights=(0.0, 1.0))
    assert only_second["fusion"]["f1"] == only_second["network2"]["f1"]
    with pytest.raises(ValueError, match="shape"):
        evaluate_predictions(au_true[:5], view_true, outputs)


def test_fused_present_is_the_weighted_mean_of_the_present_outputs():
    a = np.array([[[0.7, 0.3], [0.2, 0.8]], [[0.1, 0.9], [0.6, 0.4]]])
    b = np.array([[[0.4, 0.6], [0.45, 0.55]], [[0.3, 0.7], [1.0, 0.0]]])
    # By hand: (w1 a_present + w2 b_present) / (w1 + w2).
    equal = fused_present([a, b])
    assert equal.dtype == np.float64
    np.testing.assert_allclose(equal, [[0.55, 0.325], [0.2, 0.8]], atol=1e-15)
    np.testing.assert_allclose(fused_present([a, b], [1, 3]), [[0.475, 0.3875], [0.25, 0.9]], atol=1e-15)
    np.testing.assert_allclose(fused_present([a, b], [0.0, 2.0]), b[..., 0], atol=1e-15)
    np.testing.assert_allclose(fused_present([a]), a[..., 0], atol=1e-15)
    # The Keras layer's "present" output is the same quantity.
    layer = DecisionFusion(weights=[1, 3])([a.astype("float32"), b.astype("float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer["present"]), [[0.475, 0.3875], [0.25, 0.9]], atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        fused_present([a, b[:1]])
    with pytest.raises(ValueError, match="non-negative"):
        fused_present([a, b], [1.0, -1.0])
    with pytest.raises(ValueError, match="one weight per model"):
        fused_present([a, b], [1.0])
    with pytest.raises(ValueError, match="list of"):
        fused_present(a)

    au_true, view_true, outputs = random_case(5)
    n1, n2 = outputs["network1"]["au"], outputs["network2"]["au"]
    present = model_decisions(outputs, (0.2, 0.6))["fusion_present"]
    np.testing.assert_allclose(present, (0.2 * n1[..., 0] + 0.6 * n2[..., 0]) / 0.8, atol=1e-15)


def test_text_table_and_the_command_import_no_tensorflow():
    code = (
        "import sys\n"
        "from aufera.evaluation.text_table import aligned_table\n"
        "lines = aligned_table(['AU', 'F1'], [['AU1', '0.5'], ['Mean', '0.25']])\n"
        "print(lines)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))\n"
        "import argparse\n"
        "import aufera.commands.evaluate as command\n"
        "command.add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    table, after_table, after_command = result.stdout.splitlines()
    assert table == str(["AU      F1", "----  ----", "AU1    0.5", "Mean  0.25"])
    assert after_table == after_command == "[]"


def test_paper_tables_hold_the_published_numbers():
    assert paper.TABLE1_F1.value("Fusion", "mean") == 0.547
    assert paper.TABLE1_F1.value("Network1", "AU1") == 0.306
    assert paper.TABLE1_F1.value("VGG16 x10", "AU23") == 0.475
    assert paper.TABLE2_ACCURACY.value("Fusion", "AU17") == 0.914
    assert paper.TABLE2_ACCURACY.value("Baseline", "mean") == 0.549
    assert paper.TABLE1_F1.columns == (
        "Baseline",
        "MFF",
        "AUMPNet",
        "CNN-LSTM",
        "VGG16 x10",
        *paper.OWN_COLUMNS.values(),
    )
    # The printed means agree with the columns to rounding, except MFF's, as printed in the paper.
    for table in (paper.TABLE1_F1, paper.TABLE2_ACCURACY):
        for column in table.columns:
            tolerance = 0.003 if (table.name, column) == ("Table 1", "MFF") else 0.0006
            assert np.mean(table.values[column]) == pytest.approx(table.means[column], abs=tolerance)
    assert paper.VIEW_ACCURACY == 0.991


def predictions_for(au_true, view_true, outputs, rng_seed=0):
    decisions = model_decisions(outputs)
    n = len(view_true)
    return {
        "subject": np.array([f"F{i % 3:03d}" for i in range(n)]),
        "task": np.array(["T1"] * n),
        "view": view_true,
        "frame": np.arange(n),
        "au_true": au_true,
        "network1": decisions["network1"],
        "network2": decisions["network2"],
        "fusion": decisions["fusion"],
        "fusion_present": decisions["fusion_present"],
        "view_pred": decisions["view"],
    }


def check_png(path, min_side=300):
    image = mpimg.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_write_report_writes_every_file(tmp_path):
    au_true, view_true, outputs = random_case(3)
    metrics = evaluate_predictions(au_true, view_true, outputs)
    written = write_report(tmp_path, metrics, True, predictions_for(au_true, view_true, outputs))
    names = {p.name for p in written.values()}
    assert names == {
        "metrics.json",
        "table1.md",
        "table2.md",
        "fig7_view_confusion.png",
        "f1_per_au.png",
        "predictions_validation.csv",
    }
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    table1 = (tmp_path / "table1.md").read_text()
    assert "synthetic corpus" in table1 and "FERA 2017 (He et al. 2019)" in table1
    rows = {line.split("|")[1].strip(): line for line in table1.splitlines() if line.startswith("| ")}
    mean_cells = [c.strip() for c in rows["Mean"].split("|")[1:-1]]
    assert mean_cells[1:4] == [f"{metrics[m]['f1']['mean']:.3f}" for m in ("network1", "network2", "fusion")]
    assert mean_cells[4:] == ["0.416", "0.473", "0.521", "0.522", "0.580", "0.538", "0.525", "0.547"]
    au1 = [c.strip() for c in rows["AU1"].split("|")[1:-1]]
    assert au1[4:] == ["0.154", "0.288", "0.345", "0.369", "0.304", "0.306", "0.340", "0.357"]
    table2 = (tmp_path / "table2.md").read_text()
    assert "synthetic corpus" in table2 and "0.817" in table2 and "0.914" in table2
    assert f"{metrics['fusion']['accuracy']['AU4']:.3f}" in table2

    with open(tmp_path / "predictions_validation.csv") as f:
        records = list(csv.DictReader(f))
    assert len(records) == N
    assert list(records[0])[:4] == ["subject", "task", "view", "frame"]
    assert {f"true_{k}" for k in AU_KEYS} | {f"fusion_present_{k}" for k in AU_KEYS} <= set(records[0])
    assert [int(r["view"]) for r in records] == list(view_true + 1)
    fused = model_decisions(outputs)["fusion"]
    assert [[int(r[f"fusion_{k}"]) for k in AU_KEYS] for r in records] == fused.tolist()
    assert int(records[0]["view_pred"]) == outputs["network1"]["view"][0].argmax() + 1

    check_png(tmp_path / "fig7_view_confusion.png")
    check_png(tmp_path / "f1_per_au.png")


def test_tables_label_fera_results_and_print_aligned_text(tmp_path):
    au_true, view_true, outputs = random_case(4)
    metrics = evaluate_predictions(au_true, view_true, outputs)
    write_report(tmp_path, metrics, False)
    table1 = (tmp_path / "table1.md").read_text()
    assert "synthetic" not in table1 and "Ours: FERA 2017" in table1
    assert not (tmp_path / "predictions_validation.csv").exists()
    text = tables_text(metrics, synthetic=True)
    assert "Table 1" in text and "Table 2" in text and "synthetic corpus" in text and "0.991" in text
    lines = [line for line in text.splitlines() if line.startswith(("AU", "Mean"))]  # 2 x (header + 11 rows)
    assert len(lines) == 2 * (NUM_AUS + 2) and len({len(line) for line in lines[: NUM_AUS + 2]}) == 1
    assert lines[NUM_AUS + 1].split()[1:4] == [
        f"{metrics[m]['f1']['mean']:.3f}" for m in ("network1", "network2", "fusion")
    ]
    assert lines[NUM_AUS + 1].split()[4:] == ["0.416", "0.473", "0.521", "0.522", "0.580", "0.538", "0.525", "0.547"]


# --- A saved run, end to end ------------------------------------------------


def tiny_arrays(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return SplitArrays(
        image=rng.integers(0, 256, size=(n, 32, 32, 1), dtype=np.uint8),
        au=rng.choice([-1, 0, 1], size=(n, NUM_AUS)).astype(np.int8),
        view=rng.integers(0, NUM_VIEWS, size=n).astype(np.int32),
        subject=np.array(["F001", "M001"] * (n // 2)),
        task=np.array(["T1"] * n),
        frame=np.arange(n, dtype=np.int64),
        mean=rng.uniform(0, 255, size=(32, 32, 1)).astype(np.float32),
    )


def prepared_dataset(folder, synthetic):
    """A dataset folder whose prepare_report.json records `synthetic` (no report when None)."""
    folder.mkdir(parents=True, exist_ok=True)
    if synthetic is not None:
        (folder / PREPARE_REPORT_JSON).write_text(json.dumps({"dataset": str(folder), "synthetic": synthetic}))
    return folder


def record_dataset(run_path, data_dir):
    """The run's config.yaml as `aufera train` writes it, naming `data_dir` (None: no dataset)."""
    save_config(dataclasses.replace(TrainConfig(), data_dir=None if data_dir is None else str(data_dir)), run_path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    keras.utils.set_random_seed(0)
    network1 = Network1(ResNetBackbone(**TINY_BACKBONE), fc1_units=16, fc2_units=8)
    network2 = Network2(backbone=network1.backbone, fc1_units=16, fc2_units=8)
    path = tmp_path_factory.mktemp("run")
    network1.save(path / model_file("network1"))
    network2.save(path / model_file("network2"))
    return path, network1, network2


def test_evaluate_run_on_saved_models_matches_numpy(run_dir, tmp_path):
    path, network1, network2 = run_dir
    arrays = tiny_arrays()
    dataset = prepared_dataset(tmp_path / "dataset", synthetic=True)
    metrics = evaluate_run(path, dataset, split="validation", batch_size=7, arrays=arrays)

    x = (arrays.image.astype(np.float32) / 255.0 - arrays.mean / 255.0).astype(np.float32)
    n1, n2 = network1.predict(x, verbose=0), network2.predict(x, verbose=0)
    check_against_sklearn(metrics, arrays.au, (n1["au"][..., 0] > n1["au"][..., 1]).astype(int), "network1")
    check_against_sklearn(metrics, arrays.au, (n2["au"][..., 0] > n2["au"][..., 1]).astype(int), "network2")
    margin = 0.5 * (n1["au"][..., 0] - n1["au"][..., 1]) + 0.5 * (n2["au"][..., 0] - n2["au"][..., 1])
    check_against_sklearn(metrics, arrays.au, (margin > 0).astype(int), "fusion")
    view_pred = n1["view"].argmax(axis=1)
    expected = confusion_matrix(arrays.view, view_pred, labels=list(range(NUM_VIEWS)))
    np.testing.assert_array_equal(metrics["network1"]["view_confusion"], expected)

    assert json.loads((path / METRICS_FILE).read_text()) == metrics
    assert "synthetic corpus" in (path / TABLE_FILES["table1"]).read_text()  # from the dataset's prepare_report.json
    with open(path / predictions_file("validation")) as f:
        records = list(csv.DictReader(f))
    assert len(records) == len(arrays)
    assert [r["subject"] for r in records] == arrays.subject.tolist()
    present = 0.5 * n1["au"][..., 0] + 0.5 * n2["au"][..., 0]
    np.testing.assert_allclose(
        [[float(r[f"fusion_present_{k}"]) for k in AU_KEYS] for r in records], present, atol=1e-4
    )


def test_evaluate_run_takes_the_dataset_from_config_yaml(run_dir, tmp_path, monkeypatch):
    path, _, _ = run_dir
    arrays = tiny_arrays(n=6, seed=1)
    seen = []

    def fake_load(data_dir, split):
        seen.append((str(data_dir), split))
        return arrays

    monkeypatch.setattr("aufera.data.pipeline.load_split_arrays", fake_load)
    dataset = prepared_dataset(tmp_path / "fera", synthetic=False)
    record_dataset(path, dataset)
    # The recorded model preset (cpu-small) is the input contract: its 132-px crops are not these 32-px images.
    with pytest.raises(AuferaError) as error:
        evaluate_run(path, split="train", batch_size=4)
    assert str(error.value).startswith(f"{dataset}: images of 32x32x1, but model preset 'cpu-small' expects 132x132x1")
    assert not (path / predictions_file("train")).exists()
    # With a preset made for these tiny models the same run evaluates.
    monkeypatch.setitem(presets.PRESETS["cpu-small"]["preprocessing"], "image_size", 32)
    seen.clear()
    metrics = evaluate_run(path, split="train", batch_size=4)
    assert seen == [(str(dataset), "train")]
    assert (path / predictions_file("train")).exists()
    assert "Ours: FERA 2017" in (path / TABLE_FILES["table1"]).read_text()
    assert set(metrics) == {"network1", "network2", "fusion", "reference"}

    record_dataset(path, None)
    with pytest.raises(AuferaError, match="config.yaml: no dataset recorded"):
        evaluate_run(path)
    with pytest.raises(AuferaError, match="network1.keras: model missing"):
        evaluate_run(tmp_path, data_dir=tmp_path)
    with pytest.raises(AuferaError, match="run directory not found"):
        evaluate_run(tmp_path / "absent", data_dir=tmp_path)


def test_resolve_data_dir_reads_the_config_aufera_train_writes(tmp_path):
    run, dataset = tmp_path / "run", tmp_path / "data" / "fera2017" / "132" / "1.0.0"
    record_dataset(run, dataset.resolve())
    assert resolve_data_dir(run) == dataset.resolve()
    assert resolve_data_dir(str(run)) == dataset.resolve()
    assert resolve_data_dir(run, tmp_path / "other") == tmp_path / "other"  # --data wins

    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(AuferaError, match="no config.yaml; pass --data DATASET_DIR"):
        resolve_data_dir(bare)
    assert resolve_data_dir(bare, "dataset") == Path("dataset")
    record_dataset(bare, None)
    with pytest.raises(AuferaError, match="config.yaml: no dataset recorded.*pass --data DATASET_DIR"):
        resolve_data_dir(bare)
    (bare / CONFIG_FILE).write_text("batch_size: 0\n")
    with pytest.raises(AuferaError, match=r"config.yaml: .*batch_size"):
        resolve_data_dir(bare)
    (bare / CONFIG_FILE).write_text("data:\n  path: somewhere\n")  # a key aufera never writes
    with pytest.raises(AuferaError, match="config.yaml"):
        resolve_data_dir(bare)
    with pytest.raises(AuferaError, match="run directory not found"):
        resolve_data_dir(tmp_path / "absent", "dataset")


def test_resolve_synthetic_reads_the_prepare_report(tmp_path):
    synthetic = prepared_dataset(tmp_path / "synthetic", synthetic=True)
    fera = prepared_dataset(tmp_path / "fera", synthetic=False)
    unknown = prepared_dataset(tmp_path / "unknown", synthetic=None)
    assert resolve_synthetic(synthetic) is True
    assert resolve_synthetic(str(fera)) is False
    assert resolve_synthetic(unknown) is None
    assert resolve_synthetic(None) is None
    # --synthetic / --fera win over the report.
    assert resolve_synthetic(synthetic, False) is False
    assert resolve_synthetic(fera, True) is True
    assert resolve_synthetic(None, True) is True
    # A report without a boolean `synthetic` does not decide; a damaged one is an error naming it.
    (unknown / PREPARE_REPORT_JSON).write_text(json.dumps({"synthetic": "yes"}))
    assert resolve_synthetic(unknown) is None
    (unknown / PREPARE_REPORT_JSON).write_text("{not json")
    with pytest.raises(AuferaError, match="prepare_report.json: unreadable"):
        resolve_synthetic(unknown)


def test_command_parses_and_runs(run_dir, tmp_path, monkeypatch, capsys):
    path, _, _ = run_dir
    # The tiny models take 32-px images; a config.yaml in the run names the cpu-small preset.
    monkeypatch.setitem(presets.PRESETS["cpu-small"]["preprocessing"], "image_size", 32)
    parser = argparse.ArgumentParser()
    evaluate_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--run", str(path), "--data", str(tmp_path), "--synthetic"])
    assert args.run is evaluate_command.run and args.run_dir == str(path) and args.synthetic is True
    assert args.split == "validation" and args.batch_size == 64
    assert parser.parse_args(["evaluate", "--run", "r"]).synthetic is None
    assert parser.parse_args(["evaluate", "--run", "r", "--fera", "--batch-size", "3"]).synthetic is False
    for bad in (["--batch-size", "0"], ["--synthetic", "--fera"], []):
        with pytest.raises(SystemExit):
            parser.parse_args(["evaluate", *(["--run", "r"] if bad else []), *bad])

    monkeypatch.setattr("aufera.data.pipeline.load_split_arrays", lambda data_dir, split: tiny_arrays(n=6))
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "Table 1: F1 per AU. Ours: synthetic corpus" in out
    files = [METRICS_FILE, *TABLE_FILES.values(), *FIGURE_FILES.values(), predictions_file("validation")]
    assert f"report in {path}: {', '.join(files)}" in out
    assert all((path / name).is_file() for name in files)

    # Without --synthetic / --fera the label is the one of the run's dataset.
    dataset = prepared_dataset(tmp_path / "fera", synthetic=False)
    record_dataset(path, dataset)
    assert evaluate_command.run(parser.parse_args(["evaluate", "--run", str(path), "--split", "train"])) == 0
    assert "Table 1: F1 per AU. Ours: FERA 2017, train split" in capsys.readouterr().out
