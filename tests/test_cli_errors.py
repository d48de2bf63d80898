"""Bad input: a one-line error naming the flag or file, exit status 2, and no output written."""

from __future__ import annotations

import pathlib

import pytest

from conftest import run_cli

BASE = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-detpixels", "16", "-noprogress"]


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "inputs")


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (["-bogus", "3"], "-bogus", "unknown flag"),
        (["-detpixel", "16"], "-detpixel", "unknown flag"),
        (["-pixel"], "-pixel", "needs 1 value"),
        (["-pixel", "abc"], "-pixel", "not a number"),
        (["-N", "2.5"], "-N", "not an integer"),
        (["-detpixels", "0"], "-detpixels", "positive pixel count"),
        (["-detpixels_f", "-4"], "-detpixels", "positive pixel count"),
        (["-pixel", "0"], "-pixel", "must be positive"),
        (["-pixel", "-0.1"], "-pixel", "must be positive"),
        (["-lambda", "0"], "-lambda", "must be positive"),
        (["-lambda", "-1"], "-lambda", "must be positive"),
        (["-energy", "0"], "-energy", "must be positive"),
        (["-cell", "50", "0", "50", "90", "90", "90"], "-cell", "must be positive"),
        (["-cell", "-50"], "-cell", "must be positive"),
        (["-cell", "-default_F", "3"], "-cell", "needs at least one number"),
        (["-distance", "0"], "-distance", "must be positive"),
        (["-roi", "5", "2", "0", "3"], "-roi", "xmin <= xmax"),
        (["-misset", "1", "2"], "-misset", "needs three angles"),
        (["-misset", "1", "x", "3"], "-misset", "not a number"),
        (["-hkl", "missing.hkl"], "-hkl", "cannot read file"),
        (["-mat", "missing.mat"], "-mat", "cannot read file"),
        (["-sourcefile", "missing.txt"], "-sourcefile", "cannot read file"),
        (["-mask", "missing.img"], "-mask", "cannot read file"),
        (["-img", "missing.img"], "-img", "cannot read file"),
        (["12"], "'12'", "a value without a flag"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_output(args: list[str], flag: str, words: str, tmp_path: pathlib.Path) -> None:
    res = run_cli(BASE + args, tmp_path, inputs=None)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("nanobragg: error: "), lines[0]
    assert flag in lines[0] and words in lines[0], lines[0]
    assert _files(tmp_path) == [], "no output file may appear on an error"


def test_missing_structure_factors(tmp_path: pathlib.Path) -> None:
    res = run_cli(["-cell", "50", "50", "50", "90", "90", "90", "-detpixels", "8"], tmp_path, inputs=None)
    assert res.returncode == 2 and "-hkl" in res.stderr and _files(tmp_path) == []


def test_missing_cell(tmp_path: pathlib.Path) -> None:
    res = run_cli(["-default_F", "10", "-detpixels", "8"], tmp_path, inputs=None)
    assert res.returncode == 2 and "-cell" in res.stderr and _files(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "words"),
    [("1 2 3\n", "expected four numbers"), ("1.5 2 3 4\n", "not an integer"), ("h k l F\n1 2 3 4\n", "not a number")],
)
def test_bad_hkl_file_names_file_and_line(content: str, words: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "bad.hkl").write_text(content)
    res = run_cli(BASE + ["-hkl", "bad.hkl"], tmp_path, inputs=None)
    assert res.returncode == 2
    assert "bad.hkl" in res.stderr and "line 1" in res.stderr and words in res.stderr, res.stderr
    assert _files(tmp_path) == ["bad.hkl"]


def test_bad_mask_is_not_smv(tmp_path: pathlib.Path) -> None:
    (tmp_path / "mask.img").write_bytes(b"not an image at all")
    res = run_cli(BASE + ["-mask", "mask.img"], tmp_path, inputs=None)
    assert res.returncode == 2 and "-mask" in res.stderr and "not an SMV image" in res.stderr
    assert _files(tmp_path) == ["mask.img"]


def test_good_run_writes_the_default_names(tmp_path: pathlib.Path) -> None:
    res = run_cli(BASE + ["-seed", "1"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert _files(tmp_path) == sorted(["floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"])
