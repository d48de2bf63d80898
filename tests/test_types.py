"""The package type-checks (mypy), as its py.typed marker promises."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python" / "nanobragg_rs"


def test_mypy_is_clean() -> None:
    pytest.importorskip("mypy")
    res = subprocess.run(
        [sys.executable, "-m", "mypy", str(PACKAGE), "--ignore-missing-imports", "--no-incremental"],
        capture_output=True, text=True, check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
