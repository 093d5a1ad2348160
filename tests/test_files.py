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


def test_outputs_get_the_usual_mode_not_the_temporary_files_private_one(tmp_path):
    """A CSV of aufera predict or a preset folder is readable as any file the user writes (umask applies)."""
    import os
    import stat

    from aufera.files import atomic_directory, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "table.csv", "a,b\n")
        atomic_directory(tmp_path / "preset", lambda folder: (folder / "x.json").write_text("{}"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "preset").stat().st_mode) == 0o755
