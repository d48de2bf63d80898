"""The hand-written stub of the compiled module matches the module (mypy stubtest); tests/test_types.py
type-checks the package against it."""

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

