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


# Runs the command with files limited to `limit` bytes: a write past it fails with EFBIG
# ("File too large") part way through, a real fault in the middle of a file.
_SIZE_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from nanobragg_rs.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_write_failing_midway_leaves_no_output_at_all(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    (tmp_path / "float.bin").write_bytes(b"from an earlier run")
    # 32x32 pixels: the float image (4096 bytes) passes the limit, the others (< 3000) do not.
    res = subprocess.run(
        [sys.executable, "-c", _SIZE_LIMITED, "3000", *SMALL], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert res.returncode == 2, res.stderr
    # One line naming the user's file, never the temporary one.
    assert res.stderr.startswith("nanobragg: error: float.bin: ") and "File too large" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    # All or nothing: float.bin keeps its old contents, none of the other outputs (written
    # beside it) is left, and no temporary file either.
    assert _files(tmp_path) == ["float.bin"]
    assert (tmp_path / "float.bin").read_bytes() == b"from an earlier run"


def test_an_output_failing_when_put_in_place_leaves_none(tmp_path: pathlib.Path) -> None:
    """Every byte written, then the last output cannot be put in place (/dev/full is written
    through at the end): none of the others may appear."""
    res = run_cli([*SMALL, "-noisefile", "/dev/full"], tmp_path, inputs=None)
    assert res.returncode == 2
    assert res.stderr.startswith("nanobragg: error: /dev/full: No space left on device") and res.stderr.count("\n") == 1
    assert _files(tmp_path) == []


def test_python_writer_failure_leaves_nothing(tmp_path: pathlib.Path) -> None:
    """The Python writers (data sets, NXmx) in an output set: a failing member (a folder in
    place of a file) fails the set, and nothing written beside it appears."""
    with pytest.raises(OSError, match="out.h5"):
        with atomic.outputs():
            images.write_float(tmp_path / "float.bin", np.ones((4, 4), dtype=np.float32))
            (tmp_path / "out.h5").mkdir()
            atomic.write_atomic(tmp_path / "out.h5", b"x")
    assert _files(tmp_path) == ["out.h5"]


def test_interrupted_render_writes_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Simulator, *args: Any, **kwargs: Any) -> np.ndarray:
        raise KeyboardInterrupt

    monkeypatch.setattr(Simulator, "render", interrupted)
    res = run_cli([*SMALL, "-h5file", "out.h5"], tmp_path, inputs=None)
    assert res.returncode == 130
    assert _files(tmp_path) == []


def test_failed_file_fails_the_set(tmp_path: pathlib.Path) -> None:
    """The core's writers: one file that cannot be written fails the call, names the file,
    and leaves none of the files written beside it and no temporary file."""
    from nanobragg_rs import FileOutputs
    from nanobragg_rs.args import parse_args
    from nanobragg_rs.cli import prepare

    sim, _ = prepare(parse_args(SMALL))
    missing = tmp_path / "missing" / "image.pgm"
    with pytest.raises(OSError, match="missing/image.pgm"):
        sim.render_to_files(FileOutputs(
            floatfile=tmp_path / "float.bin", intfile=tmp_path / "int.img", pgmfile=missing,
            noisefile=tmp_path / "noise.img", seed=7,
        ))
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
