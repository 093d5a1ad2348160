"""The published results of He et al. 2019 on the FERA 2017 validation part, as data.

Table 1 (F1 per AU) and Table 2 (accuracy per AU) are stored column by
column, each column a tuple of 10 values in the aufera AU order
(`aufera.au.AU_KEYS`: AU1, AU4, AU6, AU7, AU10, AU12, AU14, AU15, AU17,
AU23), plus the "Mean" row as printed in the paper. The printed means are
kept as printed (not recomputed), because they are what the paper reports.
They agree with the mean of their column to rounding (0.001), except MFF in
Table 1: printed 0.473, while its ten printed values average 0.4757 (checked
against the paper's text; we keep both as printed).

The last three columns of each table are He et al.'s own models; the others
are the methods they compare with (FERA 2017 baseline, MFF [22], AUMPNet
[23], CNN-LSTM [24] and ten VGG16 networks [25]).

References:
    He, Li, Bo, Yu 2019, "Facial Action Unit Detection with Multilayer Fused
    Multi-Task and Multi-Label Deep Learning Network", KSII TIIS, Tables 1-2,
    Fig. 7 (view recognition accuracy 0.991).
"""

from __future__ import annotations

from dataclasses import dataclass

from aufera.au import AU_KEYS

SOURCE_LABEL = "FERA 2017 (He et al. 2019)"

# He et al.'s own models in both tables, in the aufera model names.
OWN_COLUMNS = {"network1": "Network1", "network2": "Network2", "fusion": "Fusion"}


@dataclass(frozen=True)
class PaperTable:
    """One published table: a value per AU and the printed mean, for each column.

    Args:
        name: str. "Table 1" or "Table 2".
        metric: str. "F1" or "accuracy".
        columns: tuple of str. Column names, in the paper's order.
        values: dict. Column name -> tuple of 10 floats in `AU_KEYS` order.
        means: dict. Column name -> the printed "Mean" value.
    """

    name: str
    metric: str
    columns: tuple[str, ...]
    values: dict
    means: dict

    def value(self, column: str, au: str) -> float:
        """The published value of `column` for AU key `au` ("AU1" ... "AU23") or "mean"."""
        if column not in self.values:
            raise ValueError(f"{self.name} has no column {column!r}. Columns: {list(self.columns)}")
        if au == "mean":
            return self.means[column]
        if au not in AU_KEYS:
            raise ValueError(f"Unknown AU key. Expected one of {list(AU_KEYS)} or 'mean'. Received: au={au!r}")
        return self.values[column][AU_KEYS.index(au)]


def _table(name: str, metric: str, rows: dict, mean: tuple, columns: tuple[str, ...]) -> PaperTable:
    if tuple(rows) != AU_KEYS:
        raise ValueError(f"Rows must be in AU order {AU_KEYS}. Received: {tuple(rows)}")
    values = {c: tuple(rows[au][i] for au in AU_KEYS) for i, c in enumerate(columns)}
    return PaperTable(name, metric, columns, values, dict(zip(columns, mean, strict=True)))


TABLE1_COLUMNS = ("Baseline", "MFF", "AUMPNet", "CNN-LSTM", "VGG16 x10", "Network1", "Network2", "Fusion")

# fmt: off
TABLE1_F1 = _table("Table 1", "F1", {
    "AU1":  (0.154, 0.288, 0.345, 0.369, 0.304, 0.306, 0.340, 0.357),
    "AU4":  (0.172, 0.255, 0.278, 0.264, 0.362, 0.317, 0.318, 0.354),
    "AU6":  (0.564, 0.600, 0.677, 0.678, 0.712, 0.729, 0.714, 0.744),
    "AU7":  (0.727, 0.749, 0.794, 0.763, 0.779, 0.782, 0.781, 0.796),
    "AU10": (0.692, 0.751, 0.785, 0.801, 0.836, 0.810, 0.798, 0.818),
    "AU12": (0.647, 0.730, 0.762, 0.796, 0.840, 0.795, 0.792, 0.806),
    "AU14": (0.622, 0.606, 0.692, 0.664, 0.697, 0.609, 0.649, 0.636),
    "AU15": (0.146, 0.246, 0.267, 0.269, 0.353, 0.344, 0.271, 0.325),
    "AU17": (0.224, 0.284, 0.364, 0.366, 0.442, 0.424, 0.378, 0.420),
    "AU23": (0.207, 0.248, 0.250, 0.248, 0.475, 0.260, 0.211, 0.216),
}, mean=(0.416, 0.473, 0.521, 0.522, 0.580, 0.538, 0.525, 0.547), columns=TABLE1_COLUMNS)

TABLE2_COLUMNS = ("Baseline", "CNN-LSTM", "VGG16 x10", "Network1", "Network2", "Fusion")

TABLE2_ACCURACY = _table("Table 2", "accuracy", {
    "AU1":  (0.570, 0.880, 0.782, 0.878, 0.888, 0.901),
    "AU4":  (0.520, 0.811, 0.808, 0.847, 0.871, 0.870),
    "AU6":  (0.676, 0.765, 0.799, 0.798, 0.781, 0.882),
    "AU7":  (0.642, 0.679, 0.737, 0.738, 0.735, 0.807),
    "AU10": (0.638, 0.783, 0.829, 0.791, 0.776, 0.753),
    "AU12": (0.660, 0.812, 0.860, 0.804, 0.801, 0.798),
    "AU14": (0.622, 0.640, 0.667, 0.649, 0.664, 0.815),
    "AU15": (0.307, 0.836, 0.806, 0.906, 0.903, 0.666),
    "AU17": (0.485, 0.733, 0.822, 0.758, 0.731, 0.914),
    "AU23": (0.373, 0.757, 0.862, 0.870, 0.861, 0.758),
}, mean=(0.549, 0.770, 0.797, 0.804, 0.801, 0.817), columns=TABLE2_COLUMNS)
# fmt: on

# Fig. 7: view recognition accuracy of Network1 on the FERA 2017 validation part.
VIEW_ACCURACY = 0.991


# === DRML (Zhao, Chu, Zhang 2016) ===

DRML_SOURCE_LABEL = "BP4D, 12 AUs (Zhao et al. 2016)"

# Table 2 (BP4D), the "Avg." row of the two networks aufera builds, F1-frame and AUC, in percent as printed.
DRML_TABLE2_MEANS = {
    "ConvNet": {"f1": 47.0, "auc": 51.8},
    "DRML": {"f1": 48.3, "auc": 56.0},
}

# Table 4: running time per iteration (ms) on an NVIDIA Tesla K40c, train and test, as printed.
DRML_TABLE4_MS = {
    "ConvNet": {"train": 6.4, "test": 3.3},
    "DRML": {"train": 19.1, "test": 12.1},
}


# === The CNN-LSTM of Chu, De la Torre, Cohn 2019 ===

CHU_SOURCE_LABEL = "BP4D, 12 AUs (Chu et al. 2019)"

# fmt: off
# Table 2 (BP4D, F1-frame in percent as printed), the ten AUs FERA 2017 shares with it, in aufera's AU order:
# ANet (the spatial CNN) and "Ours" (the CNN+LSTM fusion), 3-fold and 10-fold protocols; "mean" is the
# printed average over the paper's 12 AUs (AU2 and AU24 included), not over these ten.
CHU_TABLE2_BP4D = {
    "3-fold": {
        "cnn":    (40.3, 41.7, 62.8, 54.2, 75.1, 78.1, 44.7, 32.9, 47.3, 27.3),
        "fusion": (31.4, 71.4, 63.3, 77.1, 45.0, 82.6, 72.9, 34.0, 53.9, 38.6),
        "mean": {"cnn": 48.6, "fusion": 53.2},
    },
    "10-fold": {
        "cnn":    (54.7, 83.4, 94.3, 93.0, 98.9, 94.4, 82.9, 55.4, 81.1, 63.7),
        "fusion": (70.3, 83.1, 94.7, 93.2, 99.0, 96.5, 86.8, 63.3, 82.7, 73.5),
        "mean": {"cnn": 77.8, "fusion": 82.5},
    },
}

# Table 4 (BP4D+, within-dataset, F1 of the CNN as printed, two decimals): random sampling (RS), multi-label
# stratification (MS) and MOMU, the same ten AUs; "mean" is the printed average over 12 AUs.
CHU_TABLE4_BP4DP = {
    "random":     (.19, .83, .82, .91, .78, .87, .80, .15, .30, .44),
    "stratified": (.19, .83, .82, .91, .78, .87, .80, .15, .30, .44),
    "momu":       (.43, .88, .90, .94, .82, .91, .83, .38, .54, .60),
    "mean": {"random": .52, "stratified": .52, "momu": .67},
}
# fmt: on
