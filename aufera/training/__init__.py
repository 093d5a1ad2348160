"""Sequential training of He et al. 2019: Network1, then Network2 on Network1's frozen backbone.

Modules: `engine` (the loop of one stage, and `train`), `state` (resume
state and history files), `schedule` (batch plans, steps, learning rate,
validation rows), `validation` (the scores that pick the best epoch),
`callbacks` (epoch end, progress, TensorBoard), `runtime` (strategy,
precision).

`train(config, data_dir, run_dir)` loads the training and validation splits
into memory, plans the batches of every epoch with the configured sampler
(`aufera.sampling`, seeded by seed + epoch), trains Network1 with Adam and
eq. (3), keeps the epoch with the best validation mean F1, saves it, builds
Network2 on its (frozen) backbone and trains that the same way.

Run directory (contract, see docs/training.md):

    config.yaml              the resolved TrainConfig, with the dataset path
    network1.keras           Network1 at its best validation epoch
    network2.keras           Network2 at its best validation epoch
    history_network1.csv     one row per epoch: losses, validation mean F1, view accuracy, seconds
    history_network2.csv     one row per epoch: losses, validation mean F1, seconds
    logs/network{1,2}/       TensorBoard event files
    checkpoints/network{1,2}/  resume state (last epoch: model + optimizer; best weights; state.json)

Resume: every epoch ends with a checkpoint whose commit point is an atomic
rename of `state.json`; rerunning `train` with the same arguments continues
after the last committed epoch. A stage whose `.keras` file exists is done
(the file is renamed into place only when complete) and is not retrained.

References:
    He, Li, Bo, Yu 2019, Sec. 3.2-3.3 and 4.3 (Adam 1e-3, 0.9, 0.999, 1e-8;
    lambda1 = lambda2 = 0.5; Network1 first, then Network2 on the frozen
    residual network).
"""

from aufera.training.engine import STAGES, StageRun, train
from aufera.training.runtime import select_strategy, set_precision
from aufera.training.schedule import learning_rate, plan_epoch, steps_per_epoch, validation_rows
from aufera.training.state import HISTORY_COLUMNS, StageState, read_history
from aufera.training.validation import validation_scores

__all__ = [
    "HISTORY_COLUMNS",
    "STAGES",
    "StageRun",
    "StageState",
    "learning_rate",
    "plan_epoch",
    "read_history",
    "select_strategy",
    "set_precision",
    "steps_per_epoch",
    "train",
    "validation_rows",
    "validation_scores",
]
