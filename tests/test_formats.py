"""Our output files as other programs read them (fabio), and atomic writes: a failed or
interrupted run leaves no truncated or temporary file behind."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np
import pytest

from nanobragg_rs.io import images

from conftest import GOLDEN, OUTPUT_ARGS, CliResult, golden_cases, require_golden, run_cli
from nanobragg_rs.io import atomic, read_smv, smv
from nanobragg_rs.simulate import Simulator

fabio = pytest.importorskip("fabio")

#: Small cases with a noise image: square and rectangular, several conventions, a tilt.
FABIO_CASES = ["cubic_default", "rectangular", "conv_xds_orgx", "conv_adxv", "twotheta_beam_pivot", "roi"]

_runs: dict[str, CliResult] = {}


def _run(name: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, CliResult]:
    require_golden()
    case = next(c for c in golden_cases() if c["name"] == name)
    if name not in _runs:
        res = run_cli(OUTPUT_ARGS + case["args"], tmp_path_factory.mktemp(name))
        assert res.returncode == 0, res.stderr
        _runs[name] = res
    return case, _runs[name]


def _check_fabio_reads(ours: pathlib.Path, reference: pathlib.Path, shape: tuple[int, int]) -> None:
    """fabio reads our SMV file: the pixels our reader reads, the reference's header values."""
    image = fabio.open(str(ours))
    mine = read_smv(ours)
    assert image.data.shape == shape
    assert image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data, mine.data)
    ref = read_smv(reference)
    for key, value in ref.values.items():
        if key == "HEADER_BYTES":  # ours is padded to a valid size where the reference's is not
            continue
        assert image.header.get(key) == value, f"{key}: fabio read {image.header.get(key)!r}, reference {value!r}"
    assert int(image.header["HEADER_BYTES"]) % 512 == 0


@pytest.mark.parametrize("name", FABIO_CASES)
def test_fabio_reads_int_and_noise_images(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    case, res = _run(name, tmp_path_factory)
    shape = (case["spixels"], case["fpixels"])
    for filename in ("int.img", "noise.img"):
        assert filename in case["outputs"]
        _check_fabio_reads(res.folder / filename, GOLDEN / "cases" / name / filename, shape)


def test_fabio_reads_pilatus_roi(tmp_path: pathlib.Path) -> None:
    """The reference writes this header 515 bytes long while saying HEADER_BYTES=512, which
    shifts the pixels for every reader; ours is padded to 1024 and reads at the right shape."""
    require_golden()
    case = next(c for c in golden_cases() if c["name"] == "pilatus_roi")
    res = run_cli(OUTPUT_ARGS + case["args"], tmp_path)
    assert res.returncode == 0, res.stderr
    shape = (2527, 2463)
    assert (case["spixels"], case["fpixels"]) == shape
    _check_fabio_reads(tmp_path / "int.img", GOLDEN / "cases" / "pilatus_roi" / "int.img", shape)
    assert fabio.open(str(tmp_path / "int.img")).header["HEADER_BYTES"] == "1024"
    # The rendered window is where the reference has it, not shifted by the header.
    ref = read_smv(GOLDEN / "cases" / "pilatus_roi" / "int.img")
    np.testing.assert_array_equal(fabio.open(str(tmp_path / "int.img")).data, ref.data)
    assert ref.data[1150:1278, 1200:1328].any()


# --- atomic writes ------------------------------------------------------------------------

SMALL = [
    "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "3",
    "-detpixels", "32", "-pixel", "0.3", "-distance", "70", "-oversample", "1", "-seed", "7",
    "-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img",
    "-pgmfile", "image.pgm", "-noprogress",
]  # fmt: skip


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_smv_write_failing_midway_leaves_no_output_at_all(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "int.img").write_bytes(b"from an earlier run")

    real_rows = images.int_rows

    def one_block_then_fail(*args: Any) -> Any:
        # The header and the first block of pixels reach the temporary file, then the disk fills.
        yield next(real_rows(*args))
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), "writes go to a temporary name"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images, "int_rows", one_block_then_fail)
    res = run_cli(SMALL, tmp_path, inputs=None)
    assert res.returncode == 2
    # One line naming the user's file, never the temporary one.
    assert res.stderr == "nanobragg: error: int.img: No space left on device\n"
    # All or nothing: int.img keeps its old contents, none of the other outputs (float, PGM,
    # written before or beside it) is left, and no temporary file either.
    assert _files(tmp_path) == ["int.img"]
    assert (tmp_path / "int.img").read_bytes() == b"from an earlier run"


def test_an_output_failing_when_put_in_place_leaves_none(tmp_path: pathlib.Path) -> None:
    """Every byte written, then the last output cannot be put in place (/dev/full is written
    through at the end): none of the others may appear."""
    res = run_cli([*SMALL, "-noisefile", "/dev/full"], tmp_path, inputs=None)
    assert res.returncode == 2
    assert res.stderr.startswith("nanobragg: error: /dev/full: No space left on device") and res.stderr.count("\n") == 1
    assert _files(tmp_path) == []


def test_interrupted_render_writes_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Simulator, threads: int | None = None, progress: Any = None) -> np.ndarray:
        raise KeyboardInterrupt

    monkeypatch.setattr(Simulator, "render", interrupted)
    res = run_cli([*SMALL, "-h5file", "out.h5"], tmp_path, inputs=None)
    assert res.returncode == 130
    assert _files(tmp_path) == []


def test_interrupted_write_keeps_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the PGM preview is being written (after the float and integer images)."""
    real = atomic.atomic_open

    def interrupt_pgm(path: Any) -> Any:
        if str(path).endswith(".pgm"):
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(atomic, "atomic_open", interrupt_pgm)
    res = run_cli(SMALL, tmp_path, inputs=None)
    assert res.returncode == 130
    assert _files(tmp_path) == []


def test_written_files_follow_the_umask(tmp_path: pathlib.Path) -> None:
    """Temporary files are created private (0600); the finished file must not stay so."""
    res = run_cli([*SMALL, "-h5file", "out.h5"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    for name in ("float.bin", "int.img", "noise.img", "image.pgm", "out.h5"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == expected, name
