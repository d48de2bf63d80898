"""Strict values, errors that name the flag the user gave, and a strict Python API.

Each bad command line: one line on stderr naming the flag (or file), exit status 2, and no
file written."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import Config, ConfigError, Simulator, StructureFactors, config_from_args
from nanobragg_rs.values import parse_float

BASE = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-detpixels", "16", "-noprogress"]
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python" / "nanobragg_rs"


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _one_error(res, *words: str) -> str:  # type: ignore[no-untyped-def]
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("nanobragg"), lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-seed", "1e30"], ("-seed:", "out of range")),
        (["-seed", "9223372036854775807"], ("-seed:", "out of range")),
        (["-seed", "2147483648"], ("-seed:", "out of range")),
        (["-mosaic_seed", "1e30"], ("-mosaic_seed:", "out of range")),
        (["-misset", "random", "-misset_seed", "-9223372036854775807"], ("-misset_seed:", "out of range")),
        (["-N", "9223372036854775807"], ("-N:", "out of range")),
        (["-seed", "1.5"], ("-seed:", "not an integer")),
        (["-lambda", "1_0"], ("-lambda:", "'1_0' is not a number")),
        (["-distance", " 100"], ("-distance:", "not a number")),
        (["-pixel", "0.1 "], ("-pixel:", "not a number")),
        (["-lambda", "１"], ("-lambda:", "not a number")),
        (["-lambda", "nan"], ("-lambda:", "not a number")),
        (["-trace_pixel", "16", "0"], ("-trace_pixel:", "outside the detector")),
        (["-trace_pixel", "0", "-1"], ("-trace_pixel:", "outside the detector")),
        (["-N", "1e9"], ("-N", "-oversample", "too many")),
        (["-xtalsize", "1e6"], ("-xtalsize", "-oversample", "too many")),
        (["-divergence", "inf"], ("-divergence:", "finite")),
        (["-hdivrange", "inf"], ("-hdivrange:", "finite")),
    ],
)
def test_bad_value_names_the_flag_exit_2_no_output(args: list[str], words: tuple[str, ...], tmp_path: pathlib.Path) -> None:
    res = run_cli(BASE + args, tmp_path, inputs=None)
    line = _one_error(res, *words)
    assert "configuration" not in line and "Overflow" not in line
    assert _files(tmp_path) == []


def test_trace_pixel_outside_writes_no_dump_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "t.hkl").write_text("1 2 3 100\n")
    res = run_cli(BASE + ["-hkl", "t.hkl", "-trace_pixel", "3", "99"], tmp_path, inputs=None)
    _one_error(res, "-trace_pixel", "slow 0..15")
    assert _files(tmp_path) == ["t.hkl"]


def test_numbers_are_what_strtod_reads_whole() -> None:
    assert parse_float("1") == 1.0 and parse_float("-.5e1") == -5.0 and parse_float("3.") == 3.0
    assert parse_float("0x1p3") == 8.0 and parse_float("-0x.8") == -0.5 and parse_float("INF") == float("inf")
    for bad in ("1_0", "1e", "e5", "", " 1", "1 ", "0x", "1.2.3", "١", "1d0", "+-1", "infinit"):
        assert parse_float(bad) is None, bad


def test_hex_number_reads_as_the_reference_does(tmp_path: pathlib.Path) -> None:
    a = run_cli(BASE + ["-nonoise", "-nopgm", "-lambda", "0x1p0"], tmp_path / "a", inputs=None)
    b = run_cli(BASE + ["-nonoise", "-nopgm", "-lambda", "1"], tmp_path / "b", inputs=None)
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a" / "floatimage.bin").read_bytes() == (tmp_path / "b" / "floatimage.bin").read_bytes()


def _smv_with(folder: pathlib.Path, key: str, value: str) -> str:
    res = run_cli(BASE + ["-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile", "src.img"], folder / "src", inputs=None)
    assert res.returncode == 0
    data = (folder / "src" / "src.img").read_bytes()
    size = int(data.split(b"HEADER_BYTES=")[1].split(b";")[0])
    header = data[:size].decode()
    start = header.index(key + "=")
    header = header[:start] + f"{key}={value};" + header[header.index(";", start) + 1 :]
    (folder / "h.img").write_bytes(header.encode().ljust(size)[:size] + data[size:])
    return "h.img"


def test_img_header_value_is_blamed_on_the_img(tmp_path: pathlib.Path) -> None:
    name = _smv_with(tmp_path, "WAVELENGTH", "0")
    res = run_cli(BASE + ["-img", name], tmp_path, inputs=None)
    line = _one_error(res, "-img h.img", "WAVELENGTH", "must be positive")
    assert "-lambda" not in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["h.img"]


def test_mask_of_the_wrong_shape_names_the_mask(tmp_path: pathlib.Path) -> None:
    _smv_with(tmp_path, "WAVELENGTH", "1")  # a 16x16 image, used as a mask
    res = run_cli(BASE + ["-mask", "h.img", "-detpixels", "8"], tmp_path, inputs=None)
    _one_error(res, "-mask h.img", "16 x 16", "8 x 8")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["h.img"]


@pytest.mark.parametrize("flag", ["-mat", "-sourcefile"])
def test_binary_input_file_is_named(flag: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)) * 8)
    res = run_cli(BASE + [flag, "bin.dat"], tmp_path, inputs=None)
    _one_error(res, f"{flag}:", "bin.dat", "binary")
    assert _files(tmp_path) == ["bin.dat"]


def test_dataset_refuses_bad_seed_before_writing(tmp_path: pathlib.Path) -> None:
    res = run_cli(["dataset", *BASE, "-frames", "2", "-out", "d", "-seed", "1e30"], tmp_path, inputs=None)
    _one_error(res, "-seed:", "out of range")
    assert _files(tmp_path) == []


# --- the Python API -------------------------------------------------------------------------


def test_unknown_attribute_is_refused_with_a_suggestion() -> None:
    cfg = Config()
    with pytest.raises(AttributeError, match="distance_mm"):
        cfg.detector.distance = 300  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="'wavelength_A'"):
        cfg.beam.wavelength = 1.0  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="detector"):
        cfg.detectr = None  # type: ignore[attr-defined]
    cfg.detector.distance_mm = 300
    assert cfg.detector.distance_mm == 300


def _small() -> Config:
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 100
    cfg.detector.detpixels_f, cfg.detector.detpixels_s = 16, 8
    return cfg


@pytest.mark.parametrize("shape", [(128,), (16, 8), (4, 4), (1, 8, 16)])
def test_mask_must_be_slow_by_fast(shape: tuple[int, ...]) -> None:
    cfg = _small()
    cfg.detector.mask = np.ones(shape, dtype=np.uint16)
    with pytest.raises(ConfigError, match=r"^detector\.mask: .*(slow, fast)"):
        Simulator(cfg)
    cfg.detector.mask = np.ones((8, 16), dtype=np.uint16)
    assert Simulator(cfg).shape == (8, 16)


@pytest.mark.parametrize(
    ("indices", "amplitudes", "words"),
    [
        ([[1, 2, 3]], [np.nan], "finite"),
        ([[1, 2, 3]], [np.inf], "finite"),
        ([[1.5, 2, 3]], [1.0], "not an integer"),
        ([[np.nan, 2, 3]], [1.0], "not an integer"),
        ([[2**40, 0, 0]], [1.0], "does not fit"),
        ([[1, 2]], [1.0], "triples"),
        ([["a", "b", "c"]], [1.0], "integers expected"),
    ],
)
def test_structure_factors_refuse_bad_entries(indices: list, amplitudes: list, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        StructureFactors(np.array(indices), np.array(amplitudes))


def test_structure_factors_take_integral_float_indices() -> None:
    sf = StructureFactors(np.array([[1.0, -2.0, 3.0]]), np.array([5.0]))
    assert sf.indices is not None and sf.indices.tolist() == [[1, -2, 3]]


def test_integer_fields_out_of_range_name_the_field() -> None:
    cfg = _small()
    cfg.crystal.mosaic_seed = 2**70
    with pytest.raises(ConfigError, match=r"^crystal\.mosaic_seed: .*out of range"):
        Simulator(cfg)
    cfg.crystal.mosaic_seed = 1
    cfg.crystal.n_cells = (1.5, 1, 1)  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"^crystal\.n_cells: .*not an integer"):
        cfg.validate()


# --- -pix0_vector_mm --------------------------------------------------------------------------

PIX0 = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "32",
        "-pixel", "0.5", "-distance", "60", "-nonoise", "-nopgm", "-noprogress"]


def test_pix0_vector_mm_is_millimetres_in_the_corrected_mode(tmp_path: pathlib.Path) -> None:
    mm = config_from_args(PIX0 + ["-pix0_vector_mm", "100", "-4", "3.5", "-fix_quirks"])
    m = config_from_args(PIX0 + ["-pix0_vector", "0.1", "-0.004", "0.0035", "-fix_quirks"])
    assert mm.detector.pix0_vector_m == pytest.approx((0.1, -0.004, 0.0035))
    assert mm.detector.convention == "custom"
    from nanobragg_rs import render

    assert np.array_equal(render(mm), render(m))
    plain = config_from_args(PIX0 + ["-fix_quirks"])
    assert not np.array_equal(render(mm), render(plain))


@pytest.mark.c_binary
def test_pix0_vector_mm_default_mode_is_the_reference(c_binary: str, tmp_path: pathlib.Path) -> None:
    args = PIX0 + ["-pix0_vector_mm", "0.1", "-0.004", "0.0035"]
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run([c_binary, *args, "-floatfile", "f.bin", "-intfile", "i.img"], cwd=ref, check=True,
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    os.environ["NANOBRAGG_ISA"] = "exact"
    try:
        res = run_cli([*args, "-floatfile", "f.bin", "-intfile", "i.img"], tmp_path / "ours", inputs=None)
    finally:
        del os.environ["NANOBRAGG_ISA"]
    assert res.returncode == 0, res.stderr
    assert (ref / "f.bin").read_bytes() == (tmp_path / "ours" / "f.bin").read_bytes()
    # The reference selects the custom convention for it, as for -pix0_vector.
    no_pix0 = run_cli([*PIX0, "-floatfile", "f.bin", "-intfile", "i.img"], tmp_path / "plain", inputs=None)
    assert no_pix0.returncode == 0
    assert (tmp_path / "plain" / "f.bin").read_bytes() != (ref / "f.bin").read_bytes()


# --- layering ---------------------------------------------------------------------------------


def _imports(path: pathlib.Path, module: str) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (functions included), except
    under ``if TYPE_CHECKING``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
            names = [f"{target}.{a.name}" for a in node.names]
            out.update(names if not node.module else [target])
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("nanobragg_rs"))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
            continue
    return out


def test_no_import_circles() -> None:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {m: {d for d in _imports(p, m) if d in modules and d != m} for m, p in modules.items()}
    # A package's __init__ is the package itself; its submodules importing `_core` from it are fine.
    top = "nanobragg_rs"
    for m in graph:
        graph[m].discard(top)

    def visit(m: str, path: list[str]) -> None:
        for d in graph[m]:
            assert d not in path, " -> ".join([*path, d])
            visit(d, [*path, d])

    for m in graph:
        visit(m, [m])


def test_config_from_args_does_not_import_the_cli() -> None:
    code = ("import sys, nanobragg_rs as n; n.config_from_args(['-cell', '50', '-default_F', '1']);"
            "print('nanobragg_rs.cli' in sys.modules, 'nanobragg_rs.dataset.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_parsed_run_refuses_unknown_attributes() -> None:
    from nanobragg_rs import parse_args

    run = parse_args(["-cell", "50", "-default_F", "1"])
    with pytest.raises(AttributeError, match="floatfile"):
        run.output.floatfle = "x.bin"  # type: ignore[attr-defined]
