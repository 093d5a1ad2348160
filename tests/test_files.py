"""Atomic writes: a file under its final name is always complete."""

import pytest

from aufera.files import atomic_write, atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"complete")
    seen = {}

    def dying(tmp):
        seen["tmp"] = tmp
        with open(tmp, "wb") as stream:
            stream.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, dying)
    assert target.read_bytes() == b"complete"
    # The temporary file kept the target's suffix (Keras and numpy choose formats by it) and is gone.
    assert seen["tmp"].endswith(".keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
