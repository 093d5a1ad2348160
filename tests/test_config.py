"""`aufera.config`: overrides and YAML files that the property-based fuzzing (tests/test_fuzz.py) found
mishandled, one plain case each. (The presets and their round trip are tested in tests/test_training.py.)"""

import pytest

from aufera.config import load_config, load_run_config, resolve_config, save_config
from aufera.errors import AuferaError


@pytest.mark.parametrize(
    "override, message",
    [
        # Were OverflowError tracebacks (int(float("inf"))).
        ("epochs_network1=inf", "`epochs_network1` expects int. Received: epochs_network1='inf'"),
        ("augmentation.max_shift=1e400", "`augmentation.max_shift` expects an integer of 64 bits"),
        # Was read as 0: the float of 4e-400 rounds to 0.0.
        ("fold=4e-400", "`fold` expects int. Received: fold='4e-400'"),
        # Was silently 12345678901234567168 (the nearest float).
        ("seed=12345678901234567891", "`seed` expects an integer of 64 bits"),
        # Were accepted: no run can train with them (the command line's own numbers must be finite too).
        ("optimizer.learning_rate=inf", "`optimizer.learning_rate` expects a finite number"),
        ("model.lambda_au=1e400", "`model.lambda_au` expects a finite number"),
        # Was accepted, and the run's config.yaml then named a preset it could not be read from.
        ("preset=xyz", "`preset` must be one of the training presets"),
    ],
)
def test_overrides_refused_with_the_key_named(override, message):
    with pytest.raises(ValueError) as caught:
        resolve_config("cpu-small", [override])
    assert message in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_integer_overrides_are_exact_and_round_trip(tmp_path):
    config = resolve_config("cpu-small", ["seed=9223372036854775807", "epochs_network1=3.0", "batch_size=1e2"])
    assert (config.seed, config.epochs_network1, config.batch_size) == (2**63 - 1, 3, 100)
    save_config(config, tmp_path)
    assert load_config(tmp_path) == config  # was 2**63: the YAML integer went through a float
    assert resolve_config("cpu-small", ["preset=paper"]).preset == "paper"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"seed: 2001-02-30\n", "not valid YAML (day is out of range for month)"),  # was an unnamed ValueError
        (b"seed: !!int 0xZZ\n", "not valid YAML (invalid literal for int() with base 16: 'ZZ')"),
        (b"[" * 5000, "not valid YAML (maximum recursion depth exceeded"),  # was a RecursionError
        (b"seed: \xff\n", "not UTF-8 text (invalid start byte at byte 6)"),  # was an unnamed UnicodeDecodeError
    ],
)
def test_yaml_files_that_cannot_be_read_are_named(tmp_path, data, reason):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ValueError) as caught:
        resolve_config(str(path))
    assert str(caught.value).startswith(f"{path}: {reason}")
    with pytest.raises(AuferaError, match=f"^{path}: not (valid YAML|UTF-8 text)"):
        load_run_config(tmp_path)
    # A YAML value out of a float's range is refused as an override is (was an OverflowError).
    path.write_text("seed: .inf\n")
    with pytest.raises(ValueError, match="`seed` expects int. Received: seed='inf'"):
        resolve_config(str(path))


def test_yaml_list_for_a_setting_is_refused(tmp_path):
    # Was read as its text: `split: [a, b]` named the validation split "['a', 'b']".
    path = tmp_path / "config.yaml"
    path.write_text("validation:\n  split: [a, b]\n")
    with pytest.raises(ValueError, match=r"config\.yaml: `validation\.split` takes one value, not a list"):
        resolve_config(str(path))
