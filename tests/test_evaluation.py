"""Tests of aufera.evaluation: metrics against scikit-learn, eq. (5) by hand, report files, a saved run."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil
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
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score  # noqa: E402

from aufera.au import AU_KEYS, NUM_AUS, NUM_VIEWS  # noqa: E402
from aufera.cli import main  # noqa: E402
from aufera.commands import evaluate as evaluate_command  # noqa: E402
from aufera.config import TrainConfig, resolve_config, save_config  # noqa: E402
from aufera.data.pipeline import SplitArrays  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.evaluation import (  # noqa: E402
    auc_text,
    evaluate_predictions,
    evaluate_run,
    model_decisions,
    paper,
    report_files,
    resolve_data_dir,
    resolve_synthetic,
    tables_text,
    write_report,
)
from aufera.filenames import (  # noqa: E402
    CONFIG_FILE,
    DRML_TABLE_FILE,
    FIGURE_FILES,
    METRICS_FILE,
    PREPARE_REPORT_JSON,
    TABLE_FILES,
    model_file,
    predictions_file,
)
from aufera.models import DRML, DecisionFusion, Network1, Network2, ResNetBackbone, fused_present, presets  # noqa: E402

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
    assert set(metrics["network1"]) == {"f1", "accuracy", "auc", "view_accuracy", "view_confusion"}
    assert set(metrics["network2"]) == {"f1", "accuracy", "auc"}
    assert set(metrics["fusion"]) == {"f1", "accuracy", "auc", "weights"} and metrics["fusion"]["weights"] == [0.5, 0.5]
    assert set(metrics["reference"]) == {"base_rate", "always_present_f1", "positives", "negatives", "no_positives"}
    for name in ("network1", "network2", "fusion"):
        for metric in ("f1", "accuracy"):
            assert list(metrics[name][metric]) == [*AU_KEYS, "mean"]
        assert list(metrics[name]["auc"]) == [*AU_KEYS, "mean", "undefined"]
        assert metrics[name]["auc"]["undefined"] == {}
    for metric in ("base_rate", "always_present_f1"):
        assert list(metrics["reference"][metric]) == [*AU_KEYS, "mean"]
    for metric in ("positives", "negatives"):
        assert list(metrics["reference"][metric]) == list(AU_KEYS)
    assert metrics["reference"]["no_positives"] == []
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


# --- AUC, AUs without positives, N-model fusion from arrays ---------------------------------


def sklearn_auc(au_true, scores):
    out = []
    for k in range(NUM_AUS):
        known = au_true[:, k] != 0
        out.append(roc_auc_score((au_true[known, k] == 1).astype(int), scores[known, k]))
    return np.array(out)


def check_auc(entry, au_true, scores):
    expected = sklearn_auc(au_true, scores)
    np.testing.assert_allclose([entry[k] for k in AU_KEYS], expected, atol=1e-12)
    assert entry["mean"] == pytest.approx(expected.mean(), abs=1e-12) and entry["undefined"] == {}


def test_auc_of_each_model_matches_sklearn():
    au_true, view_true, outputs = random_case(6, n=120)
    metrics = evaluate_predictions(au_true, view_true, outputs, fusion_weights=(0.3, 0.7))
    n1, n2 = outputs["network1"]["au"], outputs["network2"]["au"]
    check_auc(metrics["network1"]["auc"], au_true, n1[..., 0])
    check_auc(metrics["network2"]["auc"], au_true, n2[..., 0])
    check_auc(metrics["fusion"]["auc"], au_true, 0.3 * n1[..., 0] + 0.7 * n2[..., 0])
    assert metrics["fusion"]["weights"] == [0.3, 0.7]


def test_an_au_without_positives_is_flagged_never_nan_never_a_silent_zero(tmp_path):
    au_true, view_true, outputs = random_case(7)
    au_true[:, 9] = np.where(au_true[:, 9] == 1, -1, au_true[:, 9])  # AU23: no positive frame
    au_true[:, 8] = np.where(au_true[:, 8] == -1, 1, au_true[:, 8])  # AU17: no negative frame
    metrics = evaluate_predictions(au_true, view_true, outputs)
    write_report(tmp_path, metrics, True)
    text = (tmp_path / METRICS_FILE).read_text()
    assert "NaN" not in text
    written = json.loads(text)
    for name in ("network1", "network2", "fusion"):
        auc = written[name]["auc"]
        assert auc["AU23"] is None and auc["AU17"] is None
        assert auc["undefined"] == {"AU17": "no negatives", "AU23": "no positives"}
        defined = [auc[k] for k in AU_KEYS[:8]]
        assert auc["mean"] == pytest.approx(np.mean(defined), abs=1e-12)
        assert written[name]["f1"]["AU23"] == 0.0  # F1 keeps its convention: 0 without positives
    assert written["reference"]["no_positives"] == ["AU23"]
    assert written["reference"]["positives"]["AU23"] == 0
    assert written["reference"]["negatives"]["AU17"] == 0
    assert written["reference"]["negatives"]["AU1"] == int((au_true[:, 0] == -1).sum())
    assert "AUs without a positive frame (F1 0 by convention, AUC undefined): AU23" in tables_text(metrics, True)
    auc_lines = auc_text(metrics, True).splitlines()
    assert auc_lines[-1] == "AUC undefined, left out of the AUC mean: AU17 (no negatives), AU23 (no positives)"
    assert [line.split() for line in auc_lines if line.startswith("AU23")] == [["AU23", "n/a", "n/a", "n/a"]]


def sigmoid_outputs(rng, n):
    return 1.0 / (1.0 + np.exp(-rng.normal(size=(n, NUM_AUS))))


def test_n_model_fusion_is_eq5_over_every_model_by_hand():
    au_true, view_true, outputs = random_case(8, n=150)
    rng = np.random.default_rng(80)
    p, q = sigmoid_outputs(rng, 150), sigmoid_outputs(rng, 150)
    outputs["with"] = [{"model": "DRML", "run": "runs/drml", "au": p}, {"model": "DRML", "run": "runs/d2", "au": q}]
    weights = (0.1, 0.2, 0.3, 0.4)
    metrics = evaluate_predictions(au_true, view_true, outputs, weights, run="runs/he")
    n1, n2 = outputs["network1"]["au"], outputs["network2"]["au"]
    # Eq. (5) by hand over four models, the sigmoid ones as pairs [p, 1 - p].
    margin = 0.1 * (n1[..., 0] - n1[..., 1]) + 0.2 * (n2[..., 0] - n2[..., 1]) + 0.3 * (2 * p - 1) + 0.4 * (2 * q - 1)
    check_against_sklearn(metrics, au_true, (margin > 0).astype(int), "fusion_all")
    present = (0.1 * n1[..., 0] + 0.2 * n2[..., 0] + 0.3 * p + 0.4 * q) / 1.0
    check_auc(metrics["fusion_all"]["auc"], au_true, present)
    assert metrics["fusion_all"]["weights"] == list(weights)
    assert metrics["fusion_all"]["members"] == [
        {"model": "Network1", "run": "runs/he"},
        {"model": "Network2", "run": "runs/he"},
        {"model": "DRML", "run": "runs/drml"},
        {"model": "DRML", "run": "runs/d2"},
    ]
    # Each extra model alone: p > 0.5; `fusion` stays Network1 + Network2 with the first two weights.
    for entry, scores in zip(metrics["with"], (p, q), strict=True):
        f1, acc = sklearn_per_au(au_true, (scores > 0.5).astype(int))
        np.testing.assert_allclose([entry["f1"][k] for k in AU_KEYS], f1, atol=1e-12)
        np.testing.assert_allclose([entry["accuracy"][k] for k in AU_KEYS], acc, atol=1e-12)
        check_auc(entry["auc"], au_true, scores)
    pair = evaluate_predictions(au_true, view_true, {k: outputs[k] for k in ("network1", "network2")}, (0.1, 0.2))
    assert metrics["fusion"] == pair["fusion"] and metrics["fusion"]["weights"] == [0.1, 0.2]
    # The fusion really differs from N1+N2 (the test can fail).
    assert metrics["fusion_all"]["f1"] != metrics["fusion"]["f1"]
    # Only the extra models: fusion_all is the two DRML models; fusion falls back to 0.5, 0.5.
    only = evaluate_predictions(au_true, view_true, outputs, (0, 0, 1, 1))
    margin = (2 * p - 1) + (2 * q - 1)
    check_against_sklearn(only, au_true, (margin > 0).astype(int), "fusion_all")
    assert only["fusion"]["weights"] == [0.5, 0.5]
    # Default: equal weights.
    equal = evaluate_predictions(au_true, view_true, outputs, None)
    pair_equal = evaluate_predictions(au_true, view_true, {k: outputs[k] for k in ("network1", "network2")})
    assert equal["fusion_all"]["weights"] == [0.25] * 4 and equal["fusion"]["weights"] == [0.25, 0.25]
    assert equal["fusion"]["f1"] == pair_equal["fusion"]["f1"]
    with pytest.raises(ValueError, match="one weight per model"):
        evaluate_predictions(au_true, view_true, outputs, (0.5, 0.5))
    with pytest.raises(ValueError, match="with\\[0\\]_au"):
        evaluate_predictions(au_true, view_true, {**outputs, "with": [{"au": p[:5]}]})
    # Tables 1-2 and the AUC table get the extra columns; the line below says the weights.
    text = tables_text(metrics, True) + "\n" + auc_text(metrics, True)
    assert "DRML (ours)" in text and "DRML 2 (ours)" in text and "Fusion N1+N2+DRML+DRML 2 (ours)" in text
    assert (
        "Fusion N1+N2+DRML+DRML 2: eq. (5) over 4 models, weights Network1 0.1, Network2 0.2, DRML 0.3, "
        "DRML 2 0.4; Fusion (N1+N2): weights 0.1, 0.2" in text
    )
    mean_row = [line for line in tables_text(metrics, True).splitlines() if line.startswith("Mean")][0].split()
    assert mean_row[1:6] == [
        f"{entry['f1']['mean']:.3f}"
        for entry in (metrics["network1"], metrics["network2"], metrics["fusion"], *metrics["with"])
    ]
    assert mean_row[6] == f"{metrics['fusion_all']['f1']['mean']:.3f}"


# --- DRML runs, and DRML joining the fusion of a He et al. run, end to end ---------------------

DRML_SIDE, DRML_CROP = 24, 20  # the tiny DRML preset: 20-px centre crops of a 24-px dataset


def split_arrays(side, n=24, seed=0, order=None, labels_seed=0):
    """A split in memory: `side`-px random images; labels, views and frame keys from `labels_seed` (rows `order`)."""
    rng, labels = np.random.default_rng(seed), np.random.default_rng(labels_seed)
    au = labels.choice([-1, 0, 1], size=(n, NUM_AUS)).astype(np.int8)
    view = labels.integers(0, NUM_VIEWS, size=n).astype(np.int32)
    order = np.arange(n) if order is None else np.asarray(order)
    return SplitArrays(
        image=rng.integers(0, 256, size=(n, side, side, 1), dtype=np.uint8),
        au=au[order],
        view=view[order],
        subject=np.array(["F001", "M001"] * (n // 2))[order],
        task=np.array(["T1"] * n)[order],
        frame=np.arange(n, dtype=np.int64)[order],
        mean=rng.uniform(0, 255, size=(side, side, 1)).astype(np.float32),
    )


def normalised(arrays):
    return (arrays.image.astype(np.float32) / 255.0 - arrays.mean / 255.0).astype(np.float32)


def centre(x, size=DRML_CROP):
    top = (x.shape[1] - size) // 2
    return x[:, top : top + size, top : top + size, :]


@pytest.fixture(scope="module")
def drml_model(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = DRML(
        input_shape=(DRML_CROP, DRML_CROP, 1),
        conv1_filters=4,
        conv1_kernel_size=5,
        grid=(2, 2),
        conv_filters=(4,),
        conv_kernel_sizes=(3,),
        conv_strides=(1,),
        fc_units=(8,),
    )
    path = tmp_path_factory.mktemp("drml_model") / model_file("drml")
    model.save(path)
    return path, model


def drml_run(folder, model_path, dataset, preset="drml-cpu-small"):
    """A DRML-family run directory as `aufera train --config PRESET` writes it, trained on `dataset`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_path, folder / model_file("drml"))
    save_config(dataclasses.replace(resolve_config(preset), data_dir=str(dataset)), folder)
    return folder


def he_run(folder, source, dataset):
    """A He et al. run directory (copies of the tiny networks) whose config.yaml records `dataset`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("network1", "network2"):
        shutil.copy(source / model_file(name), folder / model_file(name))
    record_dataset(folder, dataset)
    return folder


@pytest.fixture
def tiny_presets(monkeypatch):
    """The He et al. preset takes the tiny networks' 32-px images, the DRML preset 20-px crops of 24-px images."""
    monkeypatch.setitem(presets.PRESETS["cpu-small"]["preprocessing"], "image_size", 32)
    monkeypatch.setitem(presets.DRML_PRESETS["cpu-small"]["preprocessing"], "image_size", DRML_CROP)
    monkeypatch.setitem(presets.DRML_PRESETS["cpu-small"]["preprocessing"], "dataset_size", DRML_SIDE)


def serve_arrays(monkeypatch, by_dataset):
    """`load_split_arrays` answering from memory, by dataset folder; returns the list of (folder, split) asked."""
    seen = []

    def fake_load(data_dir, split):
        seen.append((str(data_dir), split))
        return by_dataset[str(data_dir)]

    monkeypatch.setattr("aufera.data.pipeline.load_split_arrays", fake_load)
    return seen


def files_of(*folders):
    return {p: p.stat().st_mtime_ns for folder in folders for p in sorted(Path(folder).rglob("*"))}


def test_drml_run_metrics_match_sklearn_on_the_centre_crop(drml_model, tmp_path, monkeypatch):
    model_path, model = drml_model
    dataset = prepared_dataset(tmp_path / "data200", synthetic=True)
    run = drml_run(tmp_path / "drml", model_path, dataset)
    # The real DRML preset wants 200-px faces: a 132-px dataset is refused with one line, before any prediction.
    serve_arrays(monkeypatch, {str(dataset): split_arrays(132, n=2)})
    with pytest.raises(AuferaError) as error:
        evaluate_run(run)
    assert str(error.value) == (
        f"{dataset}: images of 132x132x1, but model preset 'cpu-small' expects 200x200x1 (it takes 170-px crops "
        "of them); prepare the data with --image-size 200 or choose a preset for 132-px crops"
    )
    assert sorted(p.name for p in run.iterdir()) == [CONFIG_FILE, model_file("drml")]

    monkeypatch.setitem(presets.DRML_PRESETS["cpu-small"]["preprocessing"], "image_size", DRML_CROP)
    monkeypatch.setitem(presets.DRML_PRESETS["cpu-small"]["preprocessing"], "dataset_size", DRML_SIDE)
    arrays = split_arrays(DRML_SIDE, n=40, seed=1, labels_seed=1)
    arrays.au[:, 9] = np.where(arrays.au[:, 9] == 1, -1, arrays.au[:, 9])  # AU23 without positives
    seen = serve_arrays(monkeypatch, {str(dataset): arrays})
    metrics = evaluate_run(run, batch_size=7)
    assert seen == [(str(dataset), "validation")]

    # Independently: the model on the centre-cropped, mean-removed arrays.
    p = model.predict(centre(normalised(arrays)), verbose=0)["au"]
    corner = model.predict(normalised(arrays)[:, :DRML_CROP, :DRML_CROP], verbose=0)["au"]
    assert np.abs(p - corner).max() > 1e-3  # another crop gives other outputs: the check below can fail
    assert set(metrics) == {"drml", "model", "reference"} and metrics["model"] == "DRML"
    check_against_sklearn(metrics, arrays.au, (p > 0.5).astype(int), "drml")
    auc = metrics["drml"]["auc"]
    known = [k for k in range(NUM_AUS) if k != 9]
    for k in known:
        rows = arrays.au[:, k] != 0
        assert auc[AU_KEYS[k]] == pytest.approx(roc_auc_score(arrays.au[rows, k] == 1, p[rows, k]), abs=1e-6)
    assert auc["AU23"] is None and auc["undefined"] == {"AU23": "no positives"}
    assert auc["mean"] == pytest.approx(np.mean([auc[AU_KEYS[k]] for k in known]), abs=1e-12)
    assert metrics["reference"]["no_positives"] == ["AU23"] and metrics["drml"]["f1"]["AU23"] == 0.0

    # The report: metrics.json, the F1 / accuracy / AUC table, the per-frame CSV; no He et al. tables or figures.
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [CONFIG_FILE, model_file("drml"), METRICS_FILE, DRML_TABLE_FILE, predictions_file("validation")]
    )
    assert json.loads((run / METRICS_FILE).read_text()) == metrics
    table = (run / DRML_TABLE_FILE).read_text()
    assert "# DRML: F1, accuracy and AUC per AU. Ours: synthetic corpus, validation split." in table
    assert "| AU23 | 0.000 |" in table and "| n/a |" in table and "no positives: F1 0 by convention" in table
    assert f"| Mean | {metrics['drml']['f1']['mean']:.3f} | {metrics['drml']['accuracy']['mean']:.3f} |" in table
    with open(run / predictions_file("validation")) as f:
        records = list(csv.DictReader(f))
    assert [r["frame"] for r in records] == [str(f) for f in arrays.frame]
    np.testing.assert_allclose([[float(r[f"drml_present_{k}"]) for k in AU_KEYS] for r in records], p, atol=1e-4)
    assert [[int(r[f"drml_{k}"]) for k in AU_KEYS] for r in records] == (p > 0.5).astype(int).tolist()
    assert "view_pred" not in records[0]

    # The ConvNet baseline is the same family, labelled by its config.
    convnet = drml_run(tmp_path / "convnet", model_path, dataset, preset="convnet-cpu-small")
    assert evaluate_run(convnet)["model"] == "ConvNet"
    assert "# ConvNet: F1, accuracy and AUC per AU." in (convnet / DRML_TABLE_FILE).read_text()


def test_drml_run_joins_the_fusion_of_a_he_run(run_dir, drml_model, tmp_path, monkeypatch, tiny_presets, capsys):
    he_source, network1, network2 = run_dir
    model_path, drml = drml_model
    he_data = prepared_dataset(tmp_path / "data132", synthetic=True)
    drml_data = prepared_dataset(tmp_path / "data200", synthetic=True)
    he = he_run(tmp_path / "he", he_source, he_data)
    run = drml_run(tmp_path / "drml", model_path, drml_data)
    # The same 30 frames in two datasets of other image sizes and another row order.
    he_arrays = split_arrays(32, n=30, seed=4, labels_seed=4)
    order = np.random.default_rng(5).permutation(30)
    drml_arrays = split_arrays(DRML_SIDE, n=30, seed=6, labels_seed=4, order=order)
    seen = serve_arrays(monkeypatch, {str(he_data): he_arrays, str(drml_data): drml_arrays})

    parser = argparse.ArgumentParser()
    evaluate_command.add_parser(parser.add_subparsers(dest="command"))
    argv = ["evaluate", "--run", str(he), "--with", str(run), "--fusion-weights", "0.2", "0.3", "0.5"]
    args = parser.parse_args(argv)
    assert args.with_runs == [str(run)] and args.fusion_weights == [0.2, 0.3, 0.5]
    assert args.run(args) == 0
    assert seen == [(str(he_data), "validation"), (str(drml_data), "validation")]
    metrics = json.loads((he / METRICS_FILE).read_text())

    # By hand: both networks on the 32-px frames, DRML on the centre crops of its own 24-px frames, rows matched.
    x = normalised(he_arrays)
    n1, n2 = network1.predict(x, verbose=0)["au"], network2.predict(x, verbose=0)["au"]
    p = drml.predict(centre(normalised(drml_arrays)), verbose=0)["au"][np.argsort(order)]
    margin = 0.2 * (n1[..., 0] - n1[..., 1]) + 0.3 * (n2[..., 0] - n2[..., 1]) + 0.5 * (p - (1 - p))
    check_against_sklearn(metrics, he_arrays.au, (margin > 0).astype(int), "fusion_all")
    present = (0.2 * n1[..., 0] + 0.3 * n2[..., 0] + 0.5 * p) / 1.0
    for k in range(NUM_AUS):
        rows = he_arrays.au[:, k] != 0
        expected = roc_auc_score(he_arrays.au[rows, k] == 1, present[rows, k])
        assert metrics["fusion_all"]["auc"][AU_KEYS[k]] == pytest.approx(expected, abs=1e-6)
    assert metrics["fusion_all"]["members"] == [
        {"model": "Network1", "run": str(he)},
        {"model": "Network2", "run": str(he)},
        {"model": "DRML", "run": str(run)},
    ]
    assert metrics["fusion_all"]["weights"] == [0.2, 0.3, 0.5]
    check_against_sklearn({"drml": metrics["with"][0]}, he_arrays.au, (p > 0.5).astype(int), "drml")
    # `fusion` stays Network1 + Network2 (w 0.2, 0.3), Network1 and Network2 as without --with.
    fused = 0.2 * (n1[..., 0] - n1[..., 1]) + 0.3 * (n2[..., 0] - n2[..., 1])
    check_against_sklearn(metrics, he_arrays.au, (fused > 0).astype(int), "fusion")
    check_against_sklearn(metrics, he_arrays.au, (n1[..., 0] > n1[..., 1]).astype(int), "network1")

    out = capsys.readouterr().out
    assert "Fusion N1+N2+DRML (ours)" in out and "DRML (ours)" in out and "AUC per AU" in out
    assert "weights Network1 0.2, Network2 0.3, DRML 0.5; Fusion (N1+N2): weights 0.2, 0.3" in out
    assert "Fusion N1+N2+DRML (ours)" in (he / TABLE_FILES["table1"]).read_text()
    with open(he / predictions_file("validation")) as f:
        records = list(csv.DictReader(f))
    assert [[int(r[f"fusion_all_{k}"]) for k in AU_KEYS] for r in records] == (margin > 0).astype(int).tolist()
    np.testing.assert_allclose([[float(r[f"drml_present_{k}"]) for k in AU_KEYS] for r in records], p, atol=1e-4)
    assert not (run / METRICS_FILE).exists()  # the --with run is read, never written

    # Frames that differ, or labels that differ, are refused with one line, and nothing is written.
    before = files_of(he, run)
    serve_arrays(monkeypatch, {str(he_data): he_arrays, str(drml_data): drml_arrays.select(np.arange(29))})
    with pytest.raises(AuferaError) as error:
        evaluate_run(he, with_runs=[run])
    assert str(error.value).startswith(f"{drml_data}: holds other frames than {he_data} (1 of its 30 frames missing")
    changed = drml_arrays.select(np.arange(30))
    changed.au[3, 0] = 1 if changed.au[3, 0] != 1 else -1
    serve_arrays(monkeypatch, {str(he_data): he_arrays, str(drml_data): changed})
    with pytest.raises(AuferaError, match="the AU labels of 1 frames differ"):
        evaluate_run(he, with_runs=[run])
    assert files_of(he, run) == before


def test_bad_fusion_requests_give_one_line_exit_2_and_write_nothing(run_dir, drml_model, tmp_path, capsys):
    he_source, _, _ = run_dir
    data = prepared_dataset(tmp_path / "data", synthetic=True)
    he = he_run(tmp_path / "he", he_source, data)
    other_he = he_run(tmp_path / "he2", he_source, data)
    run = drml_run(tmp_path / "drml", drml_model[0], data)
    bare = tmp_path / "bare"
    bare.mkdir()
    missing = tmp_path / "missing"
    cases = [
        (["--run", he, "--with", missing], f"--with {missing}: run directory not found"),
        (["--run", he, "--with", bare], f"--with {bare}: no config.yaml; --with takes a DRML or ConvNet run"),
        (["--run", he, "--with", other_he], f"--with {other_he}: a he2019 run; --with takes DRML or ConvNet runs"),
        (["--run", he, "--with", run, "--fusion-weights", "1", "1"], "--fusion-weights: expected 3 weights"),
        (["--run", he, "--fusion-weights", "1", "1", "1"], "--fusion-weights: expected 2 weights (network1, network2)"),
        (["--run", he, "--with", run, "--fusion-weights", "0", "0", "0"], "--fusion-weights: the weights must not"),
        (["--run", he, "--fusion-weights", "0.5", "-1"], "argument --fusion-weights: expected a number >= 0, got '-1'"),
        (["--run", he, "--fusion-weights", "0.5", "nan"], "argument --fusion-weights: expected a finite number"),
        (["--run", he, "--fusion-weights"], "argument --fusion-weights: expected at least one argument"),
        (["--run", run, "--with", run], f"{run}: a DRML run has no fusion; --with and --fusion-weights take a He"),
        (["--run", run, "--fusion-weights", "1", "1"], f"{run}: a DRML run has no fusion"),
    ]
    before = files_of(he, other_he, run, bare)
    for argv, message in cases:
        argv = ["evaluate", *map(str, argv)]
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
        err = capsys.readouterr().err
        assert status == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aufera evaluate: error: "), (argv, err)
        assert message in lines[0], (argv, lines[0])
        assert files_of(he, other_he, run, bare) == before and not missing.exists()
    # The library says the same without the command.
    with pytest.raises(AuferaError, match=r"fusion weights \(network1, network2, --with run 1\): Need one weight"):
        evaluate_run(he, with_runs=[run], fusion_weights=(1.0, 1.0))


def test_names_shared_with_other_modules_agree():
    assert report_files("test", family="drml") == {
        "metrics": METRICS_FILE,
        "table_drml": DRML_TABLE_FILE,
        "predictions": "predictions_test.csv",
    }
