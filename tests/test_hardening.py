"""Hostile inputs and impossible requests (issue 13, items 1 and 2): every reader refuses what
it cannot use with a one-line error naming the flag or file, exit 2, nothing written; memory
is estimated before it is allocated; the readers are fuzzed (Hypothesis, bounded by the
profile in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from nanobragg_rs import Config, Simulator, StructureFactors, _core
from nanobragg_rs.args import UsageError, parse_args
from nanobragg_rs.cli import prepare
from nanobragg_rs.errors import blame, run_reporting
from nanobragg_rs.io.smv import HEADER_KEYS, header_text, write_smv

CRYSTAL = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-noprogress"]
BASE = CRYSTAL + ["-detpixels", "16"]
#: Fuzz targets run this many times the profile's examples (they are cheap: nothing renders).
FUZZ = 5 * settings.default.max_examples


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nanobragg: error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


def _fdump(header: str, values: list[float] | np.ndarray = ()) -> bytes:
    return f"{header}\n\f".encode() + np.asarray(values, dtype=np.float64).tobytes()


# --- Fdump.bin: the file that crashed the SIMD gather -------------------------------------


def test_crafted_fdump_whose_size_overflows_is_an_error_not_a_crash(tmp_path: pathlib.Path) -> None:
    # Extents 2^21 x 2^21 x 2^19 make 8 * cells = 2^64, which wrapped to 0 in the old reader:
    # an empty body passed the length check and the render read outside the table (exit 139).
    # Run as its own process: a crash must fail this test, not take pytest down.
    (tmp_path / "Fdump.bin").write_bytes(_fdump("-1048576 1048574 -1048576 1048574 -262144 262142"))
    args = ["-cell", "50", "50", "50", "90", "90", "90", "-detpixels", "16", "-N", "5", "-noprogress"]
    res = subprocess.run(
        [sys.executable, "-m", "nanobragg_rs", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = _one_line_error(res.stderr)
    assert "Fdump.bin" in line and "too many for a dense table" in line, line
    assert _files(tmp_path) == ["Fdump.bin"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (_fdump("-2147483648 2147483647 0 0 0 0"), "too many for a dense table"),
        (_fdump("0 999 0 999 0 99", [1.0] * 10), "announces 101202101 doubles"),
        (_fdump("-1 0 -1 0 -1 0", [1.0] * 13 + [float("nan")] + [1.0] * 13), "is NaN, not a finite number"),
        (_fdump("-1 0 -1 0 -1 0", [1.0] * 13 + [float("inf")] + [1.0] * 13), "is inf, not a finite number"),
        (_fdump("1 0 -1 0 -1 0", [1.0] * 27), "runs from 1 down to 0"),
        (_fdump("0 0 0 0 0", [1.0] * 8), "six integers"),
        (b"0 0 0 0 0 0\n" + b" " * 5000, "no header end"),
    ],
)
def test_bad_fdump_is_refused(content: bytes, words: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "Fdump.bin").write_bytes(content)
    res = run_cli(BASE, tmp_path, inputs=None)
    assert res.returncode == 2
    line = _one_line_error(res.stderr)
    assert "Fdump.bin" in line and words in line, line
    assert _files(tmp_path) == ["Fdump.bin"]


def test_good_fdump_still_reads(tmp_path: pathlib.Path) -> None:
    (tmp_path / "Fdump.bin").write_bytes(_fdump("-1 0 -1 0 -1 0", np.arange(27.0)))
    table = StructureFactors.from_fdump(tmp_path / "Fdump.bin").table(0.0)
    assert table.bounds == (-1, 0, -1, 0, -1, 0) and table.count == 8


# --- memory estimated before allocating ---------------------------------------------------


def _hkl_spanning(folder: pathlib.Path, half: int) -> str:
    (folder / "wide.hkl").write_text(f"{-half} {-half} {-half} 10\n{half} {half} {half} 20\n0 0 0 5\n")
    return "wide.hkl"


@pytest.mark.parametrize(
    ("args", "flag", "what"),
    [
        (["-detpixels", "300000"], "-detpixels", "the 300000 x 300000-pixel image needs 360 GB"),
        (["-detpixels_f", "1000000", "-detpixels_s", "100000"], "-detpixels_f", "the 1000000 x 100000-pixel image needs 400 GB"),
        (["-detsize", "1e12"], "-detsize", "-pixel image needs 4.0e26 bytes"),
        (["-mosaic_dom", "1e9", "-mosaic", "1"], "-mosaic_dom", "1000000000 mosaic domains"),
        (["-mosaic_domains", "1e9", "-mosaic", "1"], "-mosaic_domains", "1000000000 mosaic domains"),
        (["-phisteps", "1e9", "-osc", "1"], "-phisteps", "1000000000 phi steps"),
        (["-dispsteps", "1e9", "-dispersion", "1"], "-dispsteps", "1000000000 wavelengths"),
        (["-divsteps", "100000", "-divergence", "1"], "-divsteps", "100000 x 100000 divergence points"),
        (["-hdivsteps", "100000", "-vdivsteps", "100000", "-divergence", "1"], "-hdivsteps", "divergence points"),
        (["-hkl", "WIDE"], "-hkl", "the structure-factor grid h -600..600, k -600..600, l -600..600"),
    ],
)
def test_too_much_memory_is_a_one_line_error_within_a_second(
    args: list[str], flag: str, what: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fixed budget, so the test means the same on any machine and never allocates much.
    monkeypatch.setenv("NANOBRAGG_MAX_MEMORY", "8G")
    args = [_hkl_spanning(tmp_path, 600) if a == "WIDE" else a for a in args]
    before = _files(tmp_path)
    t0 = time.perf_counter()
    res = run_cli(CRYSTAL + args, tmp_path, inputs=None)
    elapsed = time.perf_counter() - t0
    assert res.returncode == 2
    line = _one_line_error(res.stderr)
    assert line.startswith(f"nanobragg: error: {flag}: "), line
    assert what in line and line.endswith("; 8.0 GB available"), line
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s"
    assert _files(tmp_path) == before


def test_memory_check_uses_the_machine_when_not_told(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NANOBRAGG_MAX_MEMORY", raising=False)
    res = run_cli(CRYSTAL + ["-detsize", "1e12"], tmp_path, inputs=None)
    line = _one_line_error(res.stderr)
    assert res.returncode == 2
    assert re.search(r"needs 4\.0e26 bytes; [\d.]+ [kMGTP]?B available$", line), line


def test_a_wide_hkl_file_that_fits_still_renders(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # +-60: a 122^3 grid of 14 MB is well inside the budget and renders as before.
    monkeypatch.setenv("NANOBRAGG_MAX_MEMORY", "8G")
    name = _hkl_spanning(tmp_path, 60)
    res = run_cli(BASE + ["-hkl", name, "-nonoise", "-nopgm"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr


def test_resource_error_from_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOBRAGG_MAX_MEMORY", "1M")
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 1
    cfg.detector.detpixels_f = cfg.detector.detpixels_s = 1024
    with pytest.raises(_core.ResourceError, match=r"^detector.detpixels_f: the 1024 x 1024-pixel image needs 4\.2 MB; 1\.0 MB available$"):
        Simulator(cfg)
    sf = StructureFactors(np.array([[-100, -100, -100], [100, 100, 100]]), np.array([1.0, 2.0]))
    with pytest.raises(_core.ResourceError, match="structure-factor grid"):
        sf.table(0.0)


@pytest.mark.parametrize("n", ["0", "1025", "100000", "1e9"])
def test_threads_bounded(n: str, tmp_path: pathlib.Path) -> None:
    res = run_cli(BASE + ["-threads", n], tmp_path, inputs=None)
    assert res.returncode == 2
    line = _one_line_error(res.stderr)
    assert "-threads: give 1 to 1024 threads" in line, line
    assert _files(tmp_path) == []


def test_threads_bounded_in_the_api() -> None:
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 1
    cfg.detector.detpixels_f = cfg.detector.detpixels_s = 4
    with pytest.raises(ValueError, match="give 1 to 1024"):
        Simulator(cfg).render(threads=5000)


def test_header_errors_name_the_file_and_key(tmp_path: pathlib.Path) -> None:
    write_smv(tmp_path / "h.img", np.zeros((4, 4), np.uint16), _header(WAVELENGTH=0))
    res = run_cli(BASE + ["-img", "h.img"], tmp_path, inputs=None)
    line = _one_line_error(res.stderr)
    assert res.returncode == 2 and "-img h.img (header WAVELENGTH=0): must be positive" in line, line


def _header(**over: float) -> dict[str, object]:
    values: dict[str, object] = {k: 1.0 for k in HEADER_KEYS}
    values.update(SIZE1=4, SIZE2=4, DIALS_ORIGIN=(0.0, 0.0, 100.0), PIXEL_SIZE=0.1, DISTANCE=100.0, WAVELENGTH=1.0)
    values.update(over)
    return values


# --- fuzz targets: every Python-side reader ---------------------------------------------

#: Numbers a hostile file would hold.
EXTREME = ["0", "-1", "1", "1e308", "-1e308", "1e999", "nan", "inf", "-inf", "1_0", "0x10", "2147483648", "9" * 40, "", "=", ";", "}", "\x00", "\xff"]


def _check_cli_contract(tokens: list[str], folder: pathlib.Path, names: tuple[str, ...]) -> None:
    """Parse and prepare (everything before the render) as the CLI does: success, or exit 2
    with one line naming the flag or the file; never another exception."""
    err = io.StringIO()

    def body() -> None:
        run = parse_args(tokens)
        try:
            prepare(run)
        except _core.ConfigError as e:
            raise UsageError(blame(str(e), run.sources())) from None

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = run_reporting("nanobragg", body)
    finally:
        os.chdir(cwd)
    assert rc in (0, 2), (rc, err.getvalue())
    if rc == 2:
        line = _one_line_error(err.getvalue())
        # Or a derived value the line says was derived (and what to set instead).
        assert any(n in line for n in names) or "auto-selected" in line, line


@st.composite
def _smv_bytes(draw: st.DrawFn) -> bytes:
    """A valid 4x4 SMV file, then header values replaced, keys dropped, bytes flipped, cut."""
    raw = bytearray(header_text(_header()) + np.arange(16, dtype="<u2").tobytes())
    text = raw[:512].decode("ascii")
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(["SIZE1", "SIZE2", "HEADER_BYTES", "PIXEL_SIZE", "DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y", "BYTE_ORDER", "PHI", "OSC_RANGE"]))
        value = draw(st.sampled_from(EXTREME + ["4", "3", "1000000", "512", "99999999999"]))
        text = re.sub(rf"(?m)^({key})=[^;\n]*", lambda m: f"{m.group(1)}={value}", text)
    raw = bytearray(text.encode("latin-1")) + raw[512:]
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return bytes(raw)


@settings(max_examples=FUZZ)
@given(content=_smv_bytes(), flag=st.sampled_from(["-img", "-mask"]))
def test_fuzz_smv_header(content: bytes, flag: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("smv")
    (folder / "x.img").write_bytes(content)
    _check_cli_contract(["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", flag, "x.img"], folder, (flag, "x.img"))


@settings(max_examples=FUZZ)
@given(content=st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(EXTREME + ["0.1", "-0.02", "1e-3", "\n", " "]), max_size=14).map(lambda t: " ".join(t).encode("utf-8", "surrogateescape"))))
def test_fuzz_mat(content: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("mat")
    (folder / "x.mat").write_bytes(content)
    _check_cli_contract(["-mat", "x.mat", "-default_F", "1", "-detpixels", "8"], folder, ("-mat", "x.mat"))


@settings(max_examples=FUZZ)
@given(content=st.one_of(st.binary(max_size=300), st.lists(st.lists(st.sampled_from(EXTREME + ["0", "1e-10", "-10", "1", ",", "\t"]), max_size=6).map(" ".join), max_size=5).map(lambda r: "\n".join(r).encode("utf-8", "surrogateescape"))))
def test_fuzz_sourcefile(content: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("src")
    (folder / "s.txt").write_bytes(content)
    _check_cli_contract(BASE + ["-sourcefile", "s.txt"], folder, ("-sourcefile", "s.txt"))


@settings(max_examples=FUZZ)
@given(content=st.one_of(st.binary(max_size=300), st.lists(st.lists(st.sampled_from(EXTREME + ["3", "-3", "1.0", "#", "600", "-600"]), max_size=5).map(" ".join), max_size=5).map(lambda r: "\n".join(r).encode("utf-8", "surrogateescape"))))
def test_fuzz_hkl_text(content: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("hkl")
    (folder / "x.hkl").write_bytes(content)
    # A small budget: a wide index box is refused, never allocated, whatever the machine.
    old = os.environ.get("NANOBRAGG_MAX_MEMORY")
    os.environ["NANOBRAGG_MAX_MEMORY"] = "64M"
    try:
        _check_cli_contract(BASE + ["-hkl", "x.hkl"], folder, ("-hkl", "x.hkl"))
    finally:
        if old is None:
            del os.environ["NANOBRAGG_MAX_MEMORY"]
        else:
            os.environ["NANOBRAGG_MAX_MEMORY"] = old


@settings(max_examples=FUZZ)
@given(
    header=st.lists(st.sampled_from(EXTREME + ["-1", "0", "1", "2", "-2147483648", "2147483647", "1048574", "-1048576"]), max_size=8).map(" ".join),
    body=st.binary(max_size=400),
)
def test_fuzz_fdump(header: str, body: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("fdump")
    (folder / "Fdump.bin").write_bytes(header.encode("utf-8", "surrogateescape") + b"\n\f" + body)
    _check_cli_contract(BASE, folder, ("Fdump.bin",))


@settings(max_examples=FUZZ)
@given(shape=st.tuples(st.integers(0, 20), st.integers(0, 20)), fill=st.integers(0, 2))
def test_fuzz_mask_array(shape: tuple[int, int], fill: int) -> None:
    """A mask given through the API: the detector's (slow, fast) shape works, any other is
    refused with a message naming the mask."""
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 1
    cfg.detector.detpixels_f, cfg.detector.detpixels_s = 8, 6
    cfg.detector.mask = np.full(shape, fill, dtype=np.uint16)
    if shape == (6, 8):
        Simulator(cfg)
    else:
        with pytest.raises(_core.NanoBraggError, match="detector.mask"):
            Simulator(cfg)
