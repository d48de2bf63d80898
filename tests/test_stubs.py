"""The hand-written stub of the compiled module matches the module (mypy stubtest), and the
package type-checks against it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_stubtest_core() -> None:
    pytest.importorskip("mypy")
    res = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "nanobragg_rs._core"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_package_type_checks_against_the_stubs() -> None:
    """Python reads the core's results as typed attributes, so a field renamed in Rust (and in
    the stub, which stubtest keeps honest) is an error here, not at run time."""
    pytest.importorskip("mypy")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, check=False, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
