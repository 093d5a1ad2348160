"""The wheel a user installs: every package folder of the checkout must be in it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aufera", "tfrecords_tools")


def package_dirs() -> list[str]:
    """Every folder under the top-level packages that holds Python files, as a path relative to the root."""
    found = []
    for top in PACKAGES:
        for folder in sorted((ROOT / top).rglob("*")):
            if folder.is_dir() and "__pycache__" not in folder.parts and any(folder.glob("*.py")):
                found.append(folder.relative_to(ROOT).as_posix())
        found.append(top)
    return sorted(set(found))


def test_every_package_folder_has_an_init_and_is_in_the_wheel(tmp_path):
    folders = package_dirs()
    assert "aufera/synth" in folders and "aufera/commands" in folders  # the walk sees nested packages
    missing_init = [f for f in folders if not (ROOT / f / "__init__.py").is_file()]
    assert not missing_init, f"folders without __init__.py (a wheel leaves them out): {missing_init}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("aufera-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    absent = [f for f in folders if f"{f}/__init__.py" not in names]
    assert not absent, f"package folders missing from {wheel.name}: {absent}"
    # Every module file of the checkout is in the wheel, not only the folders.
    modules = sorted(p.relative_to(ROOT).as_posix() for top in PACKAGES for p in (ROOT / top).rglob("*.py"))
    assert not [m for m in modules if m not in names]
