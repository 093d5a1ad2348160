"""The resume state of one training stage, and its per-epoch history file.

A stage's checkpoint folder holds the last epoch's model (`epoch_NNNN.keras`,
with the optimizer), the best epoch's weights (`best_epoch_NNNN.weights.h5`)
and `state.json`, whose atomic rename is the commit point of an epoch: a run
killed at any moment resumes after the last committed epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from aufera.errors import AuferaError
from aufera.filenames import STATE_FILE
from aufera.files import atomic_write, atomic_write_text, atomic_write_weights

HISTORY_COLUMNS = {
    "network1": [
        "epoch",
        "loss",
        "au_loss",
        "view_loss",
        "val_loss",
        "val_au_loss",
        "val_view_loss",
        "val_mean_f1",
        "val_view_accuracy",
        "seconds",
    ],
    "network2": ["epoch", "loss", "val_loss", "val_mean_f1", "seconds"],
    "drml": ["epoch", "loss", "val_loss", "val_mean_f1", "seconds"],
    "chu_cnn": ["epoch", "loss", "val_loss", "val_mean_f1", "seconds"],
    "chu_lstm": ["epoch", "loss", "val_loss", "val_mean_f1", "learning_rate", "seconds"],
    "chu_fusion": ["epoch", "loss", "val_loss", "val_mean_f1", "seconds"],
}


@dataclasses.dataclass
class StageState:
    """Where a stage stands: committed epochs, the files to resume from, the best epoch, the history.

    Args:
        stage: str. "network1", "network2", "drml" or one of "chu_cnn", "chu_lstm", "chu_fusion".
        epochs_done: int. Epochs committed. Defaults to 0.
        last: str or None. File name of the last epoch's model. Defaults to None.
        best: str or None. File name of the best epoch's weights. Defaults to None.
        best_epoch: int or None. 1-based best epoch. Defaults to None.
        best_score: float or None. Its validation mean F1. Defaults to None.
        history: list of dict. One row per committed epoch. Defaults to [].
    """

    stage: str
    epochs_done: int = 0
    last: str | None = None
    best: str | None = None
    best_epoch: int | None = None
    best_score: float | None = None
    history: list = dataclasses.field(default_factory=list)

    @classmethod
    def load(cls, ckpt_dir: Path, stage: str) -> StageState | None:
        """The committed state in `ckpt_dir`, or None when there is none.

        Raises:
            AuferaError: naming the file, when it is unreadable or names a
                missing checkpoint.
        """
        path = Path(ckpt_dir) / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:
            raise AuferaError(f"{path}: unreadable resume state ({error}); remove {ckpt_dir} to restart") from None
        if state.last and not (Path(ckpt_dir) / state.last).is_file():
            raise AuferaError(f"{path}: names {state.last}, which is missing; remove {ckpt_dir} to restart")
        return state

    def commit(self, ckpt_dir: Path) -> None:
        """Writes `state.json` atomically, then removes checkpoints it no longer names."""
        ckpt_dir = Path(ckpt_dir)
        atomic_write_text(ckpt_dir / STATE_FILE, json.dumps(dataclasses.asdict(self), indent=1))
        keep = {self.last, self.best, STATE_FILE}
        for path in ckpt_dir.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    def record_epoch(self, model, ckpt_dir: Path, history_path: Path, epoch: int, row: dict, score: float) -> None:
        """Commits finished epoch `epoch` (0-based) of `model`.

        Saves its model (with the optimizer) as the last checkpoint, its
        weights as the best when `score` (validation mean F1) beats the best
        so far, appends `row` to the history, commits `state.json` and
        rewrites the history file at `history_path`.
        """
        ckpt_dir = Path(ckpt_dir)
        last = f"epoch_{epoch + 1:04d}.keras"
        # Written under temporary names, then renamed: a file under its final name is complete.
        atomic_write(ckpt_dir / last, model.save)
        if self.best_score is None or score > self.best_score:
            weights = f"best_epoch_{epoch + 1:04d}.weights.h5"
            atomic_write_weights(ckpt_dir / weights, model)
            self.best, self.best_epoch, self.best_score = weights, epoch + 1, score
        self.history.append(row)
        self.epochs_done, self.last = epoch + 1, last
        # The history first: a kill between the two leaves the history one row ahead of the committed state,
        # which the resumed epoch rewrites; the other order could lose the last epoch's row for good.
        write_history(history_path, self.stage, self.history)
        self.commit(ckpt_dir)

    def save_best(self, model, ckpt_dir: Path, path: Path, history_path: Path | None = None) -> None:
        """Loads the best epoch's weights into `model` and saves it at `path` (a present file is complete).

        With `history_path`, first rewrites the history from the committed
        state, so the finished stage's history holds every committed epoch.
        """
        if history_path is not None:
            write_history(history_path, self.stage, self.history)
        model.load_weights(Path(ckpt_dir) / self.best)
        atomic_write(path, model.save)

    def best_row(self) -> dict:
        """The history row of the best epoch ({} before any)."""
        return next((r for r in self.history if r["epoch"] == self.best_epoch), {})


def write_history(path: Path, stage: str, rows: list[dict]) -> None:
    """Writes a `history_network*.csv` file atomically, one row per epoch."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS[stage], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS[stage]})
    atomic_write_text(path, stream.getvalue())


def read_history(path) -> list[dict]:
    """Reads a `history_network*.csv` file: a list of rows, numbers as float (epoch as int).

    Args:
        path: str or Path.

    Returns:
        A list of dicts, one per epoch.
    """
    rows = []
    with open(path, newline="") as stream:
        for row in csv.DictReader(stream):
            rows.append({k: (int(v) if k == "epoch" else float(v) if v != "" else None) for k, v in row.items()})
    return rows
