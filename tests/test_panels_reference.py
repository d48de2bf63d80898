"""Detectors no golden case has, rendered through -expt, -geom and -panels and compared
panel by panel with the reference run once per panel (NANOBRAGG_C_BIN): a 4-module
Jungfrau-like .expt in a tilted hierarchy, a CSPAD-like quadrant .geom with two panels
written as seen from the source, and a tilted panel on an arm."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import run_cli
from test_panels_golden import ref_pixels
from nanobragg_rs.io import read_smv
from nanobragg_rs.panels import Panel, panels_from_expt, panels_from_geom
from nanobragg_rs.panels.cli import panel_path

COMMON = ["-cell", "60", "70", "80", "88", "92", "95", "-default_F", "50", "-N", "4", "-misset", "5", "-8", "12",
          "-oversample", "1", "-seed", "777"]
OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-noprogress"]


def _unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def reference_panel(c_bin: str, p: Panel, common: list[str], scale: float, seed: int, folder: pathlib.Path):
    """The reference's run of one panel (turned first if it faces the sample), in the panel's
    own pixel order: (float, int, noise)."""
    q = p.turned() if p.faces_sample() else p
    f, s = _unit(q.fast_axis), _unit(q.slow_axis)
    o = _unit(_cross(f, s))
    P = list(q.origin_mm)
    args = [a for a in common]
    i = args.index("-seed")
    args[i + 1] = str(seed)
    args += ["-scale", repr(scale)]
    args += ["-fdet_vector", *map(repr, f), "-sdet_vector", *map(repr, s), "-odet_vector", *map(repr, o)]
    args += ["-Xbeam", repr(-_dot(P, f)), "-Ybeam", repr(-_dot(P, s)), "-close_distance", repr(_dot(P, o))]
    args += ["-detpixels_f", str(q.fast_pixels), "-detpixels_s", str(q.slow_pixels), "-pixel", repr(q.pixel_mm), "-pivot", "sample"]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([c_bin, *args, "-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img"], cwd=folder,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True, capture_output=True)
    fl = np.fromfile(folder / "f.bin", dtype="<f4").reshape(q.shape)
    it, nz = ref_pixels(folder / "i.img", q.shape), ref_pixels(folder / "n.img", q.shape)
    if q is not p:
        fl, it, nz = fl[::-1], it[::-1], nz[::-1]
    return fl, it, nz


def compare(c_bin: str, tmp: pathlib.Path, ours_args: list[str], panels: tuple[Panel, ...], ref_common: list[str]) -> None:
    res = run_cli(OUT + ours_args, tmp / "ours", None)
    assert res.returncode == 0, res.stderr
    flat = np.fromfile(res.folder / "float.bin", dtype="<f4")
    ours, start = [], 0
    for p in panels:
        ours.append(flat[start : start + p.fast_pixels * p.slow_pixels].reshape(p.shape))
        start += p.fast_pixels * p.slow_pixels
    assert start == flat.size
    max_float = float(max(im.max() for im in ours))
    scale = 55000.0 / max_float
    refs = [reference_panel(c_bin, p, ref_common, scale, 777 + k, tmp / f"ref{k}") for k, p in enumerate(panels)]
    ref_max = max(float(r[0].max()) for r in refs)
    assert ref_max > 0 and abs(ref_max - max_float) <= 1e-5 * ref_max
    n = len(panels)
    for k, (p, mine, (rf, ri, rn)) in enumerate(zip(panels, ours, refs)):
        keep = np.ones(p.shape, bool) if p.mask is None else np.asarray(p.mask) != 0
        tol = 1e-5 * np.abs(rf.astype(np.float64)) + 1e-7 * ref_max
        bad = (np.abs(mine.astype(np.float64) - rf) > tol) & keep
        assert not bad.any(), f"panel {p.name}: {bad.sum()} pixels disagree, first at {np.argwhere(bad)[0]}"
        assert (mine[~keep] == 0).all()
        np.testing.assert_array_equal(read_smv(res.folder / panel_path("int.img", k, n)).data[keep], ri[keep])
        if p.mask is None:  # the reference runs are unmasked, and a mask changes which pixels draw deviates
            np.testing.assert_array_equal(read_smv(res.folder / panel_path("noise.img", k, n)).data, rn)


def _rot(axis, deg):
    a = _unit(axis)
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    x, y, z = a
    return [[c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
            [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)]]


def _apply(m, v):
    return [sum(m[i][j] * v[j] for j in range(3)) for i in range(3)]


def jungfrau_expt(path: pathlib.Path) -> None:
    """Four 64x32 modules (75 um) in a 2x2 block, each turned in-plane a little, under a
    group tilted 2 degrees about the vertical; beam slightly off axis, polarised 0.99."""
    panels, children = [], []
    for k, (x, y, turn) in enumerate([(0.0, 0.0, 0.3), (5.2, 0.0, -0.5), (0.0, 2.7, 0.8), (5.2, 2.7, -0.2)]):
        c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
        panels.append({"name": f"M{k}", "type": "SENSOR_PAD", "fast_axis": [c, s, 0.0], "slow_axis": [-s, c, 0.0],
                       "origin": [x, y, 0.02 * k], "image_size": [64, 32], "pixel_size": [0.075, 0.075],
                       "thickness": 0.32, "mu": 3.9, "material": "Si"})
        children.append({"panel": k})
    tilt = _rot([0, 1, 0], 2.0)
    fast = _apply(tilt, [1.0, 0.0, 0.0])
    slow = _apply(tilt, [0.0, -1.0, 0.0])
    group = {"name": "", "fast_axis": fast, "slow_axis": slow, "origin": [-5.0, 3.0, -75.0], "children": children}
    doc = {"__id__": "ExperimentList",
           "experiment": [{"__id__": "Experiment", "beam": 0, "detector": 0, "goniometer": 0, "crystal": None}],
           "beam": [{"direction": _unit([0.002, -0.001, 1.0]), "wavelength": 1.05, "polarization_normal": [0.0, 1.0, 0.0],
                     "polarization_fraction": 0.995}],
           "detector": [{"panels": panels, "hierarchy": group}],
           "goniometer": [{"rotation_axis": [1.0, 0.0, 0.0]}]}
    path.write_text(json.dumps(doc))


def test_jungfrau_like_expt(c_binary: str, tmp_path: pathlib.Path) -> None:
    jungfrau_expt(tmp_path / "j.expt")
    panels = panels_from_expt(tmp_path / "j.expt")
    assert len(panels) == 4 and not any(p.faces_sample() for p in panels)
    d = _unit([0.002, -0.001, 1.0])
    beam = _unit([d[2], -d[1], -d[0]])  # minus the DIALS direction, in nanoBragg's frame
    e = _unit(_cross(d, [0.0, 1.0, 0.0]))
    polar = [-e[2], e[1], e[0]]
    ref_common = ["-lambda", "1.05", "-beam_vector", *map(repr, beam), "-polar_vector", *map(repr, polar),
                  "-polar", repr(2 * 0.995 - 1), "-spindle_axis", "0", "0", "1", *COMMON]
    compare(c_binary, tmp_path, COMMON + ["-expt", str(tmp_path / "j.expt")], panels, ref_common)


GEOM = """; CSPAD-like quadrant: 4 ASICs of 48x24 (110 um), two seen from the source side
photon_energy = 9200
clen = 0.09
res = 9090.90909
data = /entry_1/data_1/data
dim0 = %
dim1 = ss
dim2 = fs
q0a0/min_fs = 0
q0a0/max_fs = 47
q0a0/min_ss = 0
q0a0/max_ss = 23
q0a0/fs = +0.0034x +0.99999y
q0a0/ss = -0.99999x +0.0034y
q0a0/corner_x = 30.5
q0a0/corner_y = 2.0
q0a1/min_fs = 48
q0a1/max_fs = 95
q0a1/min_ss = 0
q0a1/max_ss = 23
q0a1/fs = +0.0034x +0.99999y
q0a1/ss = -0.99999x +0.0034y
q0a1/corner_x = 30.3
q0a1/corner_y = 52.1
q0a1/coffset = 0.0003
q0a2/min_fs = 0
q0a2/max_fs = 47
q0a2/min_ss = 24
q0a2/max_ss = 47
q0a2/fs = -0.99998x -0.0051y
q0a2/ss = -0.0051x +0.99998y
q0a2/corner_x = -3.0
q0a2/corner_y = 4.5
q0a3/min_fs = 48
q0a3/max_fs = 95
q0a3/min_ss = 24
q0a3/max_ss = 47
q0a3/fs = -0.99998x -0.0051y
q0a3/ss = -0.0051x +0.99998y
q0a3/corner_x = -54.0
q0a3/corner_y = 4.9
q0a3/coffset = -0.0002
bad_edge/min_fs = 46
bad_edge/max_fs = 49
bad_edge/min_ss = 0
bad_edge/max_ss = 23
"""


def test_cspad_like_geom_with_reversed_panels(c_binary: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "q.geom").write_text(GEOM)
    panels = panels_from_geom(tmp_path / "q.geom")
    assert [p.faces_sample() for p in panels] == [False, False, True, True]
    assert panels[0].mask is not None and (panels[0].mask == 0).sum() == 2 * 24 and panels[2].mask is None
    compare(c_binary, tmp_path, COMMON + ["-geom", str(tmp_path / "q.geom")], panels, ["-energy", "9200", *COMMON])


def test_tilted_panel_and_a_panel_facing_the_sample(c_binary: str, tmp_path: pathlib.Path) -> None:
    """A panel on a 25-degree arm tilted 10 degrees about its own fast axis, beside a copy of
    a square panel described from the source side (fast x slow toward the sample)."""
    arm = _rot([0, 1, 0], 25.0)
    tilt = _rot(_apply(arm, [0.0, 0.0, 1.0]), 10.0)
    fast = _apply(tilt, _apply(arm, [0.0, 0.0, 1.0]))
    slow = _apply(tilt, _apply(arm, [0.0, -1.0, 0.0]))
    normal = _cross(fast, slow)
    centre = [70.0 * x for x in normal]
    origin = [centre[i] - 3.2 * fast[i] - 2.4 * slow[i] for i in range(3)]
    front = {"name": "front_from_source", "fast_axis": [0.0, 0.0, 1.0], "slow_axis": [0.0, 1.0, 0.0],
             "origin_mm": [90.0, -3.0, -3.0], "fast_pixels": 48, "slow_pixels": 40, "pixel_mm": 0.1}
    doc = {"panels": [{"name": "arm", "fast_axis": fast, "slow_axis": slow, "origin_mm": origin,
                       "fast_pixels": 64, "slow_pixels": 48, "pixel_mm": 0.1}, front]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    from nanobragg_rs.panels import read_panels_json

    panels = read_panels_json(tmp_path / "p.json")
    assert [p.faces_sample() for p in panels] == [False, True]
    compare(c_binary, tmp_path, COMMON + ["-panels", str(tmp_path / "p.json")], panels, COMMON)
