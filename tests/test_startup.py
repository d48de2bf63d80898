"""The command's start-up: a plain run imports no numpy (nor the optional heavy packages),
and the files the compiled core writes are byte for byte those of the Python writers."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import GOLDEN, require_golden
from nanobragg_rs import Config, FileOutputs, Simulator
from nanobragg_rs.io import images, smv

HEAVY = ("numpy", "h5py", "dask", "distributed", "matplotlib", "fabio", "hdf5plugin", "gemmi")
FILES = ["-floatfile", "float.bin", "-intfile", "int.img", "-pgmfile", "image.pgm", "-noisefile", "noise.img", "-noprogress"]

# Runs the command in a fresh interpreter and reports which heavy packages it imported.
_PROBE = """
import json, sys
from nanobragg_rs.cli import main
rc = main(sys.argv[1:])
print("MODULES " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
sys.exit(rc)
"""


def _probe(args: list[str], cwd: pathlib.Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    code = f"HEAVY = {HEAVY!r}\n" + _PROBE
    p = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    line = next(line for line in p.stdout.splitlines() if line.startswith("MODULES "))
    return json.loads(line.split(" ", 1)[1]), p


def test_cli_import_is_lean() -> None:
    code = f"import sys, nanobragg_rs.cli; print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]", p.stdout


#: Standard modules a plain run does without (a few ms each at start-up): dataclasses pulls
#: in inspect, ast, dis and tokenize; typing pulls in re; signal pulls in enum; contextlib,
#: threading and enum pull in functools and collections.
SLOW_STDLIB = ("dataclasses", "inspect", "typing", "re", "ast", "difflib", "textwrap", "numbers", "pathlib", "json",
               "enum", "signal", "contextlib", "functools", "threading", "collections")


@pytest.mark.parametrize("case", ["cell", "hkl"])
def test_plain_run_imports_only_what_it_needs(tmp_path: pathlib.Path, case: str) -> None:
    """Without site (whose .pth files import what they like), a plain run's command imports
    none of the slower standard modules; nor does one that reads an HKL file and writes
    Fdump.bin."""
    code = (
        "import sys\nfrom nanobragg_rs.cli import main\nrc = main(sys.argv[1:])\n"
        f"print('MODULES', sorted(m for m in sys.modules if m in {SLOW_STDLIB!r}))\nsys.exit(rc)"
    )
    package_dir = pathlib.Path(__import__("nanobragg_rs").__file__).parents[1]
    if case == "hkl":
        require_golden()
        os.symlink(GOLDEN / "inputs", tmp_path / "inputs")
        args = ["-mat", "inputs/tric.mat", "-hkl", "inputs/tric.hkl", "-N", "3", "-detpixels", "16", *FILES]
    else:
        args = ["-cell", "70", "70", "70", "90", "90", "90", "-default_F", "100", "-detpixels", "16", "-seed", "3", *FILES]
    env = dict(os.environ, PYTHONPATH=str(package_dir))
    p = subprocess.run([sys.executable, "-S", "-c", code, *args], cwd=tmp_path, capture_output=True, text=True,
                       check=False, env=env)
    assert p.returncode == 0, p.stderr
    assert "MODULES []" in p.stdout, p.stdout
    if case == "hkl":
        assert (tmp_path / "Fdump.bin").stat().st_size > 0


def test_installed_command_imports_only_what_it_needs(tmp_path: pathlib.Path) -> None:
    """The installed ``nanobragg`` script (ours, not an installer's template, which imports re)
    starts the command with none of the slower standard modules."""
    script = pathlib.Path(sys.executable).parent / "nanobragg"
    if not script.is_file():
        pytest.skip(f"no nanobragg command beside {sys.executable}")
    assert script.read_text().splitlines()[0].startswith("#!"), "the installer did not set the interpreter"
    package_dir = pathlib.Path(__import__("nanobragg_rs").__file__).parents[1]
    args = ["-cell", "70", "70", "70", "90", "90", "90", "-default_F", "100", "-detpixels", "16", "-seed", "3", *FILES]
    env = dict(os.environ, PYTHONPATH=str(package_dir))
    p = subprocess.run([sys.executable, "-S", "-X", "importtime", str(script), *args], cwd=tmp_path, capture_output=True,
                       text=True, check=False, env=env)
    assert p.returncode == 0, p.stderr
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "nanobragg_rs.cli" in imported, p.stderr[-2000:]
    assert imported.isdisjoint(SLOW_STDLIB), sorted(imported & set(SLOW_STDLIB))
    assert (tmp_path / "noise.img").stat().st_size > 0


def test_plain_run_imports_no_numpy(tmp_path: pathlib.Path) -> None:
    args = ["-cell", "70", "70", "70", "90", "90", "90", "-default_F", "100", "-detpixels", "48", "-seed", "3", *FILES]
    modules, p = _probe(args, tmp_path)
    assert modules == [], modules
    for name in ("float.bin", "int.img", "image.pgm", "noise.img"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "photons on noise image" in p.stdout


def test_hkl_run_imports_no_numpy(tmp_path: pathlib.Path) -> None:
    require_golden()
    os.symlink(GOLDEN / "inputs", tmp_path / "inputs")
    args = ["-mat", "inputs/tric.mat", "-hkl", "inputs/tric.hkl", "-N", "3", "-detpixels", "40", "-nonoise", *FILES]
    modules, _ = _probe(args, tmp_path)
    assert modules == [], modules
    assert (tmp_path / "Fdump.bin").is_file()
    # And the Fdump.bin cache read back without -hkl.
    modules, _ = _probe([a for a in args if a not in ("-hkl", "inputs/tric.hkl")], tmp_path)
    assert modules == [], modules


def _config(noise_adc: float = 40.0) -> Config:
    cfg = Config()
    cfg.crystal.cell = (60, 70, 80, 90, 95, 90)
    cfg.crystal.default_F = 80
    cfg.crystal.n_cells = (4, 5, 6)
    cfg.detector.detpixels_f, cfg.detector.detpixels_s = 70, 50
    cfg.detector.roi = (3, 60, 5, 44)
    return cfg


@pytest.mark.parametrize("scale, pgmscale, adc", [(0.0, 0.0, 40.0), (3.5, 0.7, 10.0)])
def test_core_writers_match_python_writers(tmp_path: pathlib.Path, scale: float, pgmscale: float, adc: float) -> None:
    sim = Simulator(_config())
    names = {k: str(tmp_path / f"core.{k}") for k in ("float", "int", "pgm", "noise")}
    written = sim.render_to_files(FileOutputs(
        floatfile=names["float"], intfile=names["int"], pgmfile=names["pgm"], noisefile=names["noise"],
        seed=7, scale=scale, pgmscale=pgmscale, adc=adc,
    ))
    image = sim.render()
    st = sim.stats(image)
    assert written.stats == st
    roi = tuple(sim.panel.roi)
    header = sim.setup.header.as_dict()
    int_scale = scale if scale > 0 else 55000.0 / st.max_I
    pgm_scale = pgmscale if pgmscale > 0 else 250.0 / (5.0 * st.rmsd)
    assert (written.int_scale, written.pgm_scale) == (int_scale, pgm_scale)
    images.write_float(tmp_path / "py.float", image)
    smv.write_smv(tmp_path / "py.int", images.int_rows(image, int_scale, adc, roi), header)
    images.write_pgm(tmp_path / "py.pgm", images.pgm_rows(image, pgm_scale, roi), pgm_scale, image.shape)
    noise = sim.noise(image, 7)
    counts, overloads = images.noise_counts(noise.photons, adc, roi)
    smv.write_smv(tmp_path / "py.noise", counts, header)
    assert (written.noise_total, written.overloads) == (noise.total, overloads)
    for k in names:
        assert pathlib.Path(names[k]).read_bytes() == (tmp_path / f"py.{k}").read_bytes(), k
    # The same bytes from an image handed back in (the NXmx path).
    again = sim.write_files(image, FileOutputs(intfile=tmp_path / "again.int", noisefile=tmp_path / "again.noise",
                                               seed=7, scale=scale, adc=adc))
    assert again.pgm_scale is None
    assert (tmp_path / "again.int").read_bytes() == (tmp_path / "py.int").read_bytes()
    assert (tmp_path / "again.noise").read_bytes() == (tmp_path / "py.noise").read_bytes()


def test_files_left_out(tmp_path: pathlib.Path) -> None:
    sim = Simulator(_config())
    written = sim.render_to_files(FileOutputs(floatfile=tmp_path / "f.bin"))
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    assert written.pgm_scale is None and written.noise_total is None
    assert np.array_equal(np.fromfile(tmp_path / "f.bin", dtype="<f4").reshape(sim.shape), sim.render())


def test_write_error_names_the_file(tmp_path: pathlib.Path) -> None:
    sim = Simulator(_config())
    with pytest.raises(OSError, match="nowhere"):
        sim.render_to_files(FileOutputs(floatfile=tmp_path / "nowhere" / "f.bin"))


def test_the_command_ends_at_once_with_everything_written(tmp_path: pathlib.Path) -> None:
    """`python -m nanobragg_rs` (the `nanobragg` script's entry) skips the interpreter's teardown
    after a render: its printout through a pipe is whole, its files are in place, and an error
    still exits 2 with its one line."""
    args = ["-cell", "70", "70", "70", "90", "90", "90", "-default_F", "100", "-detpixels", "24", "-seed", "3", *FILES]
    p = subprocess.run([sys.executable, "-m", "nanobragg_rs", *args], cwd=tmp_path, capture_output=True, text=True,
                       check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip().endswith("as 2-byte integers"), p.stdout[-200:]
    assert (tmp_path / "noise.img").stat().st_size == 512 + 2 * 24 * 24
    bad = subprocess.run([sys.executable, "-m", "nanobragg_rs", "-detpixels", "x"], cwd=tmp_path, capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "-detpixels" in bad.stderr, bad.stderr
