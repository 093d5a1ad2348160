"""Argument types for the `aufera` command: each checks what its name says.

Every function here is an `argparse` `type=`: it turns the argument's text
into a value or raises `argparse.ArgumentTypeError` with a message that
echoes the value. argparse adds the flag's name, and the command's parser
prints the whole as one line and exits with status 2, so a bad value is
refused before anything is read or written.
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(convert, ok, expected: str, name: str, doc: str):
    """An argument type: `convert` the text, then refuse a value for which `ok` is false."""

    def parse(text: str):
        value = convert(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__, parse.__doc__ = name, doc
    return parse


positive_int = _bounded(
    _int, lambda v: v >= 1, "a whole number >= 1", "positive_int", "A whole number >= 1 (counts, workers, batch sizes)."
)
non_negative_int = _bounded(_int, lambda v: v >= 0, "a whole number >= 0", "non_negative_int", "A whole number >= 0.")
fraction = _bounded(_float, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1", "fraction", "A number in [0, 1].")
non_negative_float = _bounded(
    _float, lambda v: v >= 0.0, "a number >= 0", "non_negative_float", "A finite number >= 0 (margins)."
)


def int_range(low: int, high: int):
    """A type accepting whole numbers from `low` to `high` inclusive."""
    expected = f"a whole number from {low} to {high}"
    return _bounded(_int, lambda v: low <= v <= high, expected, "int_range", f"A whole number in [{low}, {high}].")


def floats(count: int):
    """A type accepting exactly `count` comma-separated finite numbers, returned as a tuple."""

    def parse(text: str) -> tuple[float, ...]:
        parts = text.split(",")
        if len(parts) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {len(parts)} in {text!r}")
        try:
            return tuple(_float(part) for part in parts)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {text!r}") from None

    return parse


def fractions(count: int):
    """`floats(count)` with every number in [0, 1]."""
    parse_floats = floats(count)

    def parse(text: str) -> tuple[float, ...]:
        values = parse_floats(text)
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers from 0 to 1, got {text!r}")
        return values

    return parse


LEVELS = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}


def level(text: str) -> float:
    """A FACS intensity level A-E (case-insensitive), as 1.0-5.0."""
    if text.upper() in LEVELS:
        return LEVELS[text.upper()]
    raise argparse.ArgumentTypeError(f"expected an intensity level A, B, C, D or E, got {text!r}")


def key_value(text: str) -> str:
    """A `key=value` config override (the key is checked against the config when it is resolved)."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return text


def config_error(error: Exception, flags: dict[str, str]):
    """An `AuferaError` for a config's ValueError, prefixed with the flag of the field it names.

    Args:
        error: the ValueError a config raised; its message names the field
            (for example "unknown_rate must be in [0, 0.5). Received: ...").
        flags: dict. Config field -> the command's flag for it.

    Returns:
        `AuferaError("--flag: message")` when the message names one of the
        fields, else `AuferaError(message)`.
    """
    from aufera.errors import AuferaError

    message = str(error)
    for field, flag in flags.items():
        if message.startswith(field) or f"{field}=" in message:
            return AuferaError(f"{flag}: {message}")
    return AuferaError(message)


def add_workers(parser, what: str = "worker processes") -> None:
    """Adds `--workers N` (at least 1; default: the CPU cores, at most 8), the same for every command."""
    from aufera.synth.config import default_workers

    parser.add_argument(
        "--workers",
        type=positive_int,
        default=default_workers(),
        metavar="N",
        help=f"{what} (default: the number of CPU cores, at most 8)",
    )


def add_reproduction_options(parser, default_out: str, quick_help: str) -> None:
    """The options of `aufera reproduce`, shared by the example scripts that write out its steps: `--data-dir`,
    `--out`, `--seed`, `--quick`, `--workers` (`add_workers`) and `--quiet`."""
    parser.add_argument("--data-dir", default=None, metavar="FERA_ROOT", help="a FERA 2017 copy (default: synthetic)")
    parser.add_argument("--out", default=default_out, metavar="DIR", help=f"output folder (default ./{default_out})")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="S", help="seed of the corpus and the training"
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    add_workers(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
