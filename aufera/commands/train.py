"""`aufera train`: Network1, then Network2 on its frozen backbone, into a run directory (resumable)."""

from __future__ import annotations

from aufera.commands import validators as v
from aufera.errors import AuferaError


def add_parser(subparsers) -> None:
    from aufera.config import SAMPLERS, train_preset_names

    p = subparsers.add_parser(
        "train",
        help="train a model family: Network1 then Network2 (He et al.), or DRML / ConvNet (resumable)",
        description="Train the networks a config names: He et al. 2019's Network1 (AUs and views), then Network2 "
        "on Network1's frozen residual network; or DRML (Zhao et al. 2016) or its ConvNet baseline. Each network "
        "keeps its best epoch by validation mean F1. Rerunning the same command after an interruption continues "
        "where it stopped.",
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="PRESET_OR_YAML",
        help=f"training preset ({', '.join(train_preset_names())}) or a YAML file of TrainConfig keys",
    )
    p.add_argument("--data", required=True, metavar="DATASET_DIR", help="the dataset folder `aufera prepare` printed")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (new, or one to resume)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="batch sampler (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "overrides",
        nargs="*",
        type=v.key_value,
        metavar="key=value",
        help="config overrides, e.g. epochs_network1=3 batch_size=32 optimizer.learning_rate=1e-4",
    )
    p.set_defaults(run=run)


def format_summary(summary: dict) -> str:
    """The final summary printed by `aufera train`: best epoch and validation mean F1 per network."""

    def number(value):
        return "n/a" if value is None else f"{value:.4f}"

    lines = []
    for stage in summary.get("stages", ("network1", "network2")):
        row = summary[stage]
        line = f"{stage}: best epoch {row['best_epoch']}, validation mean F1 {number(row['val_mean_f1'])}"
        if "val_view_accuracy" in row:
            line += f", view accuracy {number(row['val_view_accuracy'])}"
        lines.append(line)
    lines += [
        f"wall time {summary['wall_seconds']:.1f} s ({summary['replicas']} replica(s) on {summary['workers']} "
        f"worker(s), {summary['precision']}); "
        f"run directory {summary['run_dir']}",
    ]
    return "\n".join(lines)


def run(args) -> int:
    from aufera.config import resolve_config

    overrides = list(args.overrides or ())
    if args.sampler:
        overrides.append(f"sampler={args.sampler}")
    try:
        config = resolve_config(args.config, overrides)
    except ValueError as error:
        raise AuferaError(f"--config {args.config}: {error}") from None
    from aufera.training import train

    summary = train(config, args.data, args.out, progress=not args.quiet)
    if not summary["chief"]:
        print(
            f"trained as one of {summary['workers']} workers ({summary['replicas']} replicas); the chief's --out "
            "holds the run"
        )
        return 0
    print(format_summary(summary))
    from aufera.pretrained import write_run_preset

    preset = write_run_preset(args.out)  # He et al. and DRML runs: the models as one preset with weights
    if preset is not None:
        print(f"preset with weights: {preset} (aufera predict --model {preset})")
    return 0
