"""Command line interface: ``python -m tfrecords_tools {inspect,verify,stats} PATH [PATH...]``.

Exit codes:
    0  success (verify: every record of every file is valid)
    1  verify found a corrupt or truncated file (inspect/stats: a file could not
       be read completely; what was readable is still reported)
    2  bad input: a path does not exist or holds no TFRecord file, or bad arguments
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from tfrecords_tools.core import DEFAULT_INSPECT_SAMPLE, DEFAULT_STATS_SAMPLE
from tfrecords_tools.framing import InputPathError, resolve_paths

EXIT_OK, EXIT_CORRUPT, EXIT_BAD_INPUT = 0, 1, 2


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and start its runtime with stderr silenced, so CLI output stays readable.

    TensorFlow's C++ logs (oneDNN notices, CPU features, "failed call to
    cuInit" without a GPU) are printed at import and first op regardless of
    TF_CPP_MIN_LOG_LEVEL. They are captured and thrown away, unless the import
    fails, in which case they are written back to stderr with the error.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.constant(0).numpy()  # device initialization logs happen here
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _counts(counter: dict) -> str:
    """'8x8x1' for one key, '8x8x1 (3), 16x16x1 (1)' for several."""
    if len(counter) == 1:
        return str(next(iter(counter)))
    return ", ".join(f"{k} ({v})" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def _range(span: dict) -> str:
    return str(span["min"]) if span["min"] == span["max"] else f"{span['min']}-{span['max']}"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _feature_lines(features: dict, au_key: str) -> list[str]:
    rows = [["feature", "kind", "in records", "values/record", "details"]]
    for key, info in features.items():
        kind = info["kind"] if isinstance(info["kind"], str) else _counts(info["kind"])
        details = []
        if "image" in info:
            image = info["image"]
            details.append(f"{_counts(image['formats'])} image")
            if image["shapes"]:
                details.append(f"{_counts(image['shapes'])} {_counts(image['dtypes'])}")
            if image["decode_errors"]:
                details.append(f"{image['decode_errors']} undecodable")
        if "bytes_per_value" in info:
            details.append(f"{_range(info['bytes_per_value'])} bytes")
            if key == au_key:
                details.append("read as int8 labels")
        rows.append([key, kind, str(info["records"]), _range(info["values_per_record"]), ", ".join(details)])
    return _table(rows)


def _au_lines(au: dict, key: str) -> list[str]:
    lines = [
        f"  {key} base rates over {au['records']} records ({au['encoding']}): "
        f"+1 among known {_fmt(au['overall']['positive_rate'])}, unknown {_fmt(au['overall']['unknown_rate'])}"
    ]
    rows = [["position", *[str(i) for i in range(au["positions"])]]]
    rows.append(["+1/known", *[_fmt(r, 2) for r in au["positive_rate"]]])
    rows.append(["unknown", *[_fmt(r, 2) for r in au["unknown_rate"]]])
    lines += _table(rows, indent="    ")
    if au["invalid_values"]:
        lines.append(f"    {au['invalid_values']} values outside {{-1, 0, +1}}")
    if au["length_mismatches"]:
        lines.append(f"    {au['length_mismatches']} records with another number of values, left out")
    return lines


def _print_inspect(report: dict, au_key: str) -> None:
    for info in report["files"]:
        compression = f", {info['compression']}" if info["compression"] else ""
        print(f"{info['path']}: {info['records']} records{compression} (first {info['sampled']} parsed)")
        if info["error"]:
            print(f"  ERROR {info['error']}")
        if info["features"]:
            print("\n".join(_feature_lines(info["features"], au_key)))
        if info["au"]:
            print("\n".join(_au_lines(info["au"], au_key)))
    total = report["total"]
    errors = f", {total['errors']} with errors" if total["errors"] else ""
    print(f"total: {total['files']} files, {total['records']} records ({total['sampled']} parsed){errors}")
    if total["files"] > 1:
        if total["features"]:
            print("\n".join(_feature_lines(total["features"], au_key)))
        if total["au"]:
            print("\n".join(_au_lines(total["au"], au_key)))


def _print_stats(report: dict) -> None:
    print(f"{report['sampled']} of {report['records']} records sampled from {report['files']} files")
    for error in report["errors"]:
        print(f"  ERROR {error}")
    rows = [["feature", "kind", "count", "min", "max", "mean", "std", "histogram"]]
    others = []
    for key, info in report["features"].items():
        if info["type"] == "numeric":
            histogram = info["histogram"]
            hist = " ".join(f"{k}:{v}" for k, v in histogram.items()) if histogram else "-"
            nan = f" (+{info['nan']} nan/inf)" if info["nan"] else ""
            rows.append(
                [
                    key,
                    info["kind"],
                    f"{info['count']}{nan}",
                    _fmt(info["min"]),
                    _fmt(info["max"]),
                    _fmt(info["mean"]),
                    _fmt(info["std"]),
                    hist,
                ]
            )
        elif info["type"] == "image":
            line = (
                f"  {key}: {info['images']} {_counts(info['formats'])} images {_counts(info['shapes'])} "
                f"{_counts(info['dtypes'])}, pixel mean {_fmt(info['pixel_mean'])} std {_fmt(info['pixel_std'])} "
                f"(min {_fmt(info['pixel_min'])}, max {_fmt(info['pixel_max'])})"
            )
            if info["channel_mean"] and len(info["channel_mean"]) > 1:
                means = ", ".join(_fmt(m, 1) for m in info["channel_mean"])
                stds = ", ".join(_fmt(s, 1) for s in info["channel_std"])
                line += f"; per channel mean [{means}] std [{stds}]"
            if info["decode_errors"]:
                line += f"; {info['decode_errors']} undecodable"
            others.append(line)
        else:
            length = info["length"]
            line = f"  {key}: {info['count']} bytes values, length {_range(length)}"
            if info["distinct"]:
                line += ", values " + " ".join(f"{k}:{v}" for k, v in info["distinct"].items())
            others.append(line)
    if len(rows) > 1:
        print("\n".join(_table(rows)))
    if others:
        print("\n".join(others))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfrecords_tools",
        description="Inspect, verify and summarize TFRecord files of tf.train.Example (TFDS shards included). "
        "PATH is a file, a glob, or a folder searched recursively for *.tfrecord* files.",
        epilog="Exit codes: 0 ok, 1 corrupt data found, 2 bad input (missing path, no TFRecord files, bad arguments).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("paths", nargs="+", metavar="PATH", help="file, glob or folder")
    common.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    au = argparse.ArgumentParser(add_help=False)
    au.add_argument("--au-key", default="au", help="name of the AU label feature (default: au)")

    inspect = commands.add_parser(
        "inspect",
        parents=[common, au],
        help="record counts, feature keys/kinds/shapes, images, AU base rates",
        description="Count the records of each file and describe the features of its first records.",
    )
    inspect.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_INSPECT_SAMPLE,
        help=f"records parsed per file (default {DEFAULT_INSPECT_SAMPLE}; 0: all)",
    )
    commands.add_parser(
        "verify",
        parents=[common],
        help="read every record with CRC checks and parse it; report the first bad record of each file",
        description="Exit 0 when every record of every file is valid, 1 when a file is corrupt or truncated.",
    )
    stats = commands.add_parser(
        "stats",
        parents=[common, au],
        help="min/max/mean/histograms of numeric features, pixel mean/std of images",
        description="Summaries over an evenly spaced sample of records from all files.",
    )
    stats.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_STATS_SAMPLE,
        help=f"records used in total (default {DEFAULT_STATS_SAMPLE}; 0: all)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default sys.argv[1:]) and return the exit code."""
    args = build_parser().parse_args(argv)
    if getattr(args, "sample", 0) < 0:
        print(f"--sample must be >= 0. Received: {args.sample}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        files = resolve_paths(args.paths)
    except InputPathError as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    _import_tensorflow_quietly()
    from tfrecords_tools.inspect import inspect_files
    from tfrecords_tools.stats import feature_stats
    from tfrecords_tools.verify import verify_file

    if args.command == "inspect":
        report = inspect_files(files, sample=args.sample, au_key=args.au_key)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_inspect(report, args.au_key)
        return EXIT_CORRUPT if report["total"]["errors"] else EXIT_OK
    if args.command == "stats":
        report = feature_stats(files, sample=args.sample, au_key=args.au_key)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_stats(report)
        return EXIT_CORRUPT if report["errors"] else EXIT_OK
    checks = [verify_file(path) for path in files]
    problems = [check.problem for check in checks if check.problem is not None]
    records = sum(check.records for check in checks)
    if args.json:
        report = {
            "files": [
                {"path": c.path, "records": c.records, "valid": c.valid, "problem": c.problem and c.problem.to_dict()}
                for c in checks
            ],
            "records": records,
            "problems": [problem.to_dict() for problem in problems],
        }
        print(json.dumps(report, indent=2))
    else:
        for problem in problems:
            print(problem)
        if problems:
            print(f"{len(checks)} files, {records} valid records, {len(problems)} corrupt files")
        else:
            print(f"{len(checks)} files, {records} records, all valid")
    return EXIT_CORRUPT if problems else EXIT_OK


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `... | head`: stop quietly, like other command line tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
