"""``nanobragg nonbragg`` against every case of the nonBragg.c golden corpus.

Float images must agree bit for bit (NaN included), integer and noise images byte for byte,
the PGM in its defined bytes, ``-stolout`` in columns 1, 2, 3 and 6 (../shared/golden-nonbragg/
README.md), and the printed statistics must be the reference's.
"""

from __future__ import annotations

import json
import os
import pathlib
import re

import numpy as np
import pytest

from nanobragg_rs.cli import main
from nanobragg_rs.nonbragg import BANNER

ROOT = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "golden-nonbragg"
pytestmark = pytest.mark.skipif(not (ROOT / "manifest.json").is_file(), reason=f"golden corpus not found at {ROOT}")
CASES = json.loads((ROOT / "manifest.json").read_text()) if (ROOT / "manifest.json").is_file() else []

RENAMES = {"floatimage.bin": "float.bin", "intimage.img": "int.img", "noiseimage.img": "noise.img"}


def run_case(case: dict, folder: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> str:
    os.symlink(ROOT / "inputs", folder / "inputs")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        status = main(["nonbragg", *case["args"]])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    assert status == case["returncode"], out.err
    return out.out


def printed(text: str, pattern: str) -> str:
    m = re.search(pattern, text)
    assert m, f"no match for {pattern!r}"
    return m.group(1)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_case(case, tmp_path, capsys)
    ref_dir = ROOT / "cases" / case["name"]
    for name in case["outputs"]:
        ours_name = next((k for k, v in RENAMES.items() if v == name), name)
        ours = (tmp_path / ours_name).read_bytes()
        ref = (ref_dir / name).read_bytes()
        if name == "float.bin":
            a, b = np.frombuffer(ours, "<u4"), np.frombuffer(ref, "<u4")
            assert a.shape == b.shape
            differ = np.flatnonzero(a != b)
            assert differ.size == 0, f"{differ.size} float pixels differ, first {differ[:5]}"
        elif name == "image.pgm":
            n = case["pgm_valid_bytes"]
            assert len(ours) == len(ref)
            assert ours[:n] == ref[:n]
        elif name == "stolout.txt":
            rows = [line.split() for line in ours.decode().splitlines()]
            want = [line.split() for line in ref.decode().splitlines()]
            assert [[r[i] for i in (0, 1, 2, 5)] for r in rows] == [[r[i] for i in (0, 1, 2, 5)] for r in want]
        else:
            assert ours == ref, f"{name} differs"
    st = case["stats"]
    assert printed(out, r"intfile_scale = (\S+)") == f"{st['intfile_scale']:g}"
    assert printed(out, r"pgm_scale = (\S+)") == f"{st['pgm_scale']:g}"
    assert printed(out, r"solid angle subtended by detector = (\S+)") == f"{st['solid_angle_sum']:g}"
    assert printed(out, r"created a total of (\d+) sources") == str(st["sources"])
    for key in ("mean", "rms", "rmsd", "max_I"):
        pattern = {"mean": r"mean= (\S+)", "rms": r"rms= (\S+)", "rmsd": r"rmsd= (\S+)", "max_I": r"max_I = (\S+)"}[key]
        want = st[key] if isinstance(st[key], str) else f"{st[key]:g}"
        assert printed(out, pattern) == want, key
    if "photons" in st:
        photons = st["photons"] if isinstance(st["photons"], str) else f"{st['photons']:.0f}"
        assert printed(out, r"(\S+) photons on noise image") == photons
        assert printed(out, r"\((\d+) overloads\)") == str(st["overloads"])
    # Everything printed, but for the input image's mmap address (which the corpus masks) and the
    # banner, where ours names this program and the reference names itself.
    ref_lines = [line for line in (ref_dir / "stdout.txt").read_text().splitlines() if not line.startswith("mmap(")]
    ours = out.splitlines()
    at = ours.index(BANNER)
    assert ref_lines[at].startswith("nonBragg amorphous material diffraction simulator")
    assert ours[:at] + ours[at + 1:] == ref_lines[:at] + ref_lines[at + 1:]
