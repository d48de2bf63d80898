"""Shared fixtures: the golden corpus, an in-process CLI runner, the reference binary."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
import stat
from dataclasses import dataclass

import numpy as np
import pytest

from nanobragg_rs.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden"
GOLDEN_FIXED = ROOT.parent / "shared" / "golden-fixed"


def load_manifest(folder: pathlib.Path) -> list[dict]:
    path = folder / "manifest.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def golden_cases(folder: pathlib.Path = GOLDEN) -> list[dict]:
    return load_manifest(folder)


def require_golden(folder: pathlib.Path = GOLDEN) -> None:
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"golden corpus not found at {folder} (expected ../shared/golden beside the project)")


def agrees(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The corpus's agreement rule, per pixel: |ours - ref| <= 1e-5 |ref| + 1e-7 max(ref)."""
    ref64 = ref.astype(np.float64)
    tol = 1e-5 * np.abs(ref64) + 1e-7 * ref64.max()
    return np.abs(ours.astype(np.float64) - ref64) <= tol


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    folder: pathlib.Path

    def read_float(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        return np.fromfile(self.folder / name, dtype="<f4").reshape(shape)


def run_cli(args: list[str], folder: pathlib.Path, inputs: pathlib.Path | None = GOLDEN / "inputs") -> CliResult:
    """Run ``nanobragg args`` in-process inside ``folder`` (with ``inputs/`` linked there)."""
    folder.mkdir(parents=True, exist_ok=True)
    if inputs is not None and inputs.is_dir() and not (folder / "inputs").exists():
        os.symlink(inputs, folder / "inputs")
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
    finally:
        os.chdir(cwd)
    return CliResult(rc, out.getvalue(), err.getvalue(), folder)


#: Output names put first on the command line, so a case's own -nonoise still wins.
OUTPUT_ARGS = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-pgmfile", "image.pgm", "-noprogress"]


def reference_binary(variable: str) -> str:
    """Path of a reference binary named by the environment ``variable``; skips when unset."""
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (see DEVELOPERS.md to build the reference)")
    if not (os.path.isfile(path) and os.stat(path).st_mode & stat.S_IXUSR):
        pytest.skip(f"{variable}={path} is not an executable file")
    return path


@pytest.fixture(scope="session")
def c_binary() -> str:
    """Path of the reference binary from NANOBRAGG_C_BIN; skips when it is not set."""
    return reference_binary("NANOBRAGG_C_BIN")


@pytest.fixture
def golden_inputs(tmp_path: pathlib.Path) -> pathlib.Path:
    require_golden()
    shutil.copytree(GOLDEN / "inputs", tmp_path / "inputs")
    return tmp_path


# --- Hypothesis profiles -----------------------------------------------------------------------
# "dev" (loaded by default): 40 examples per property, the same ones on every run (derandomized,
# no example database), so the property tests are never flaky. "thorough": 1000 examples per
# property (about half a minute for the comparison with the reference), drawn afresh on every
# run; failing ones are saved in .hypothesis/ and replayed first next time. Choose with
# `pytest --hypothesis-profile thorough` or the environment variable HYPOTHESIS_PROFILE.
# Renders are slow by Hypothesis's standards: no deadline, no too_slow health check.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
