"""``nanobragg nonbragg``: bad input, the quirks it reproduces and those ``-fix_quirks``
corrects (docs/nonbragg.md), and the Python ``Background`` object."""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import Background

TABLES = pathlib.Path(__file__).resolve().parents[1] / "python" / "nanobragg_rs" / "data" / "stol"
SHORTWATER = "0 2.57\n0.0365 2.58\n0.07 2.8\n0.12 5\n0.162 8\n0.2 6.8\n0.18 4.7\n0.25 4.9\n0.3 4.8\n0.436 3.77\n0.5 3.17\n"
BASE = ["-detpixels", "32", "-pixel", "0.4", "-distance", "40", "-thick", "0.001", "-fluence", "1e21", "-seed", "5"]


def setup_folder(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("water.stol", "air.stol", "ice.stol", "nanoice.stol"):
        (folder / name).write_bytes((TABLES / name).read_bytes())
    (folder / "shortwater.stol").write_text(SHORTWATER)
    (folder / "unity.stol").write_text("0 1\n0.5 1\n1 1\n2 1\n")
    (folder / "empty.stol").write_text("\n\n")
    (folder / "notsmv.img").write_text("hello\n")
    (folder / "nosources.txt").write_text("  \n")
    return folder


def nonbragg(folder: pathlib.Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(["nonbragg", *args], setup_folder(folder), inputs=None)


def float_image(folder: pathlib.Path, name: str = "floatimage.bin") -> np.ndarray:
    data = np.fromfile(folder / name, dtype="<f4")
    n = int(math.isqrt(data.size))
    return data.reshape(-1, n) if n * n == data.size else data


def header(folder: pathlib.Path, name: str = "intimage.img") -> dict[str, str]:
    text = (folder / name).read_bytes()[:512].decode("ascii", "replace")
    return dict(re.findall(r"(\w+)=([^;]*);", text))


def stat(stdout: str, key: str) -> float:
    m = re.search(rf"{key}= ?(\S+)", stdout)
    assert m, key
    return float(m.group(1))


# ---------------------------------------------------------------- bad input


BAD = [
    (["-stol", "water.stol", "-bogus"], "-bogus"),
    (["-detpixels", "8"], "-stol"),
    (["-stol", "missing.stol"], "missing.stol"),
    (["-stol", "water.stol", "-distance", "abc"], "-distance"),
    (["-stol", "water.stol", "-distance"], "-distance"),
    (["-stol", "water.stol", "-detpixels", "8.5"], "-detpixels"),
    (["-stol", "empty.stol"], "empty.stol"),
    (["-stol", "water.stol", "-sourcefile", "nosources.txt"], "-sourcefile"),
    (["-stol", "water.stol", "-img", "notsmv.img"], "-img"),
    (["-stol", "water.stol", "-pivot", "middle"], "-pivot"),
    (["-stol", "water.stol", "-pixel", "0"], "-pixel"),
    (["-stol", "water.stol", "-detpixels", "-5"], "-detpixels"),
    (["-stol", "water.stol", "-detpixels", "200000"], "-detpixels"),
    (["-material", "mud"], "mud"),
    (["-stol", "water.stol", "12"], "12"),
]


@pytest.mark.parametrize("args,names", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(args: list[str], names: str, tmp_path: pathlib.Path) -> None:
    before = set(setup_folder(tmp_path).iterdir())
    r = nonbragg(tmp_path, *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanobragg nonbragg: error: ") and names in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert set(tmp_path.iterdir()) == before


def test_an_output_that_cannot_be_written_leaves_none_written(tmp_path: pathlib.Path) -> None:
    # The noise image is written last; its folder does not exist, so no other output may stay.
    before = set(setup_folder(tmp_path).iterdir())
    r = nonbragg(tmp_path, "-stol", "water.stol", *BASE, "-noisefile", "missing/noise.img")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing/noise.img" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert set(tmp_path.iterdir()) == before


def test_help(tmp_path: pathlib.Path) -> None:
    r = nonbragg(tmp_path, "-h")
    assert r.returncode == 0 and "nonbragg" in r.stdout


# ---------------------------------------------------------------- behaviour


def test_material_equals_its_table_file(tmp_path: pathlib.Path) -> None:
    a = nonbragg(tmp_path / "a", "-material", "water", *BASE, "-nonoise")
    b = nonbragg(tmp_path / "b", "-stol", "water.stol", *BASE, "-nonoise")
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a" / "floatimage.bin").read_bytes() == (tmp_path / "b" / "floatimage.bin").read_bytes()
    # air: its density and molecular weight unless given.
    c = nonbragg(tmp_path / "c", "-material", "air", *BASE, "-nonoise")
    assert "0.0012 g/cm^3 and 28.97 g/mol" in c.stdout


def test_noisefile_and_nonoise_last_wins(tmp_path: pathlib.Path) -> None:
    r = nonbragg(tmp_path / "a", "-stol", "water.stol", *BASE, "-nonoise", "-noisefile", "n.img")
    assert (tmp_path / "a" / "n.img").exists()
    r = nonbragg(tmp_path / "b", "-stol", "water.stol", *BASE, "-noisefile", "n.img", "-nonoise")
    assert r.returncode == 0 and not (tmp_path / "b" / "n.img").exists()


def test_curved_det_needs_a_following_token(tmp_path: pathlib.Path) -> None:
    flat = nonbragg(tmp_path / "flat", "-stol", "water.stol", *BASE, "-nonoise")
    last = nonbragg(tmp_path / "last", "-stol", "water.stol", *BASE, "-nonoise", "-curved_det")
    curved = nonbragg(tmp_path / "curved", "-stol", "water.stol", *BASE, "-nonoise", "-curved_det", "1")
    fixed = nonbragg(tmp_path / "fixed", "-stol", "water.stol", *BASE, "-nonoise", "-fix_quirks", "-curved_det")
    assert flat.returncode == last.returncode == curved.returncode == fixed.returncode == 0
    assert "no effect" in last.stderr
    img = {k: float_image(tmp_path / k) for k in ("flat", "last", "curved")}
    assert np.array_equal(img["flat"], img["last"])
    assert not np.array_equal(img["flat"], img["curved"])
    assert "curved detector" in fixed.stdout


# ---------------------------------------------------------------- quirks and their fixes


def test_q1_pixel_count(tmp_path: pathlib.Path) -> None:
    for mode, want in (([], "14"), (["-fix_quirks"], "13")):
        d = tmp_path / str(len(mode))
        r = nonbragg(d, "-stol", "water.stol", "-detpixels", "13", "-pixel", "0.1", "-distance", "5", "-nonoise", *mode)
        assert r.returncode == 0
        assert header(d)["SIZE1"] == want == header(d)["SIZE2"]


def test_q2_beam_centre(tmp_path: pathlib.Path) -> None:
    args = ["-stol", "unity.stol", "-detpixels", "64", "-pixel", "0.1", "-distance", "20", "-nonoise"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    assert header(tmp_path / "q")["BEAM_CENTER_X"] == "3.15"
    assert header(tmp_path / "f")["BEAM_CENTER_X"] == "3.2"
    # Unpolarized, centred: the corrected image is point-symmetric about the detector centre.
    img = float_image(tmp_path / "f")
    assert np.allclose(img, img[::-1, ::-1], rtol=1e-6)
    quirky = float_image(tmp_path / "q")
    assert not np.allclose(quirky, quirky[::-1, ::-1], rtol=1e-6)


def test_q3_table_index_history(tmp_path: pathlib.Path) -> None:
    # Corrected: a pixel's value does not depend on which pixels were rendered before it.
    args = ["-stol", "shortwater.stol", "-detpixels", "48", "-pixel", "0.3", "-distance", "20", "-thick", "0.001", "-fluence", "1e21", "-nonoise", "-fix_quirks"]
    nonbragg(tmp_path / "all", *args)
    nonbragg(tmp_path / "roi", *args, "-roi", "30", "47", "30", "47")
    whole, window = float_image(tmp_path / "all"), float_image(tmp_path / "roi")
    assert np.array_equal(whole[30:, 30:], window[30:, 30:])
    # With the sorted table, values agree with a fresh interpolation of the sorted rows.
    assert np.isfinite(whole).all() and (whole > 0).all()


def test_q4_nan_and_negative_lobes(tmp_path: pathlib.Path) -> None:
    args = ["-stol", "nanoice.stol", "-detpixels", "64", "-pixel", "0.4", "-distance", "40", "-thick", "0.001", "-fluence", "1e21", "-nonoise"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    assert np.isnan(float_image(tmp_path / "q")).sum() == 1
    assert np.isfinite(float_image(tmp_path / "f")).all()
    args = ["-stol", "ice.stol", "-detpixels", "64", "-pixel", "0.4", "-distance", "40", "-thick", "0.001", "-fluence", "1e19", "-nonoise"]
    nonbragg(tmp_path / "iq", *args)
    nonbragg(tmp_path / "if", *args, "-fix_quirks")
    assert (float_image(tmp_path / "iq") < 0).sum() > 0
    assert (float_image(tmp_path / "if") >= 0).all()


def test_q4_beyond_the_table(tmp_path: pathlib.Path) -> None:
    # Far beyond shortwater's last row (0.5/Å): linear extrapolation goes negative; held at 3.17 when fixed.
    args = ["-stol", "shortwater.stol", "-detpixels", "16", "-pixel", "1", "-distance", "5", "-lambda", "0.5", "-Fmap", "-nonoise"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    q, f = float_image(tmp_path / "q"), float_image(tmp_path / "f")
    assert q.min() < 3.17 - 0.1
    assert f.min() == pytest.approx(3.17, rel=1e-6)


def test_q5_rmsd(tmp_path: pathlib.Path) -> None:
    for mode in ([], ["-fix_quirks"]):
        d = tmp_path / str(len(mode))
        r = nonbragg(d, "-stol", "water.stol", *BASE, "-nonoise", *mode)
        img = float_image(d).astype(np.float64)
        mean = stat(r.stdout, "mean")
        own = math.sqrt(((img - img.mean()) ** 2).sum() / (img.size - 1))
        shifted = np.append(img.ravel()[1:], 0.0)
        neighbour = math.sqrt(((shifted - img.mean()) ** 2).sum() / (img.size - 1))
        want = own if mode else neighbour
        assert stat(r.stdout, "rmsd") == pytest.approx(want, rel=1e-5)
        assert mean == pytest.approx(img.mean(), rel=1e-5)


def test_q6_q15_img_extraction(tmp_path: pathlib.Path) -> None:
    d = setup_folder(tmp_path / "src")
    nonbragg(d, "-stol", "air.stol", "-detpixels", "64", "-pixel", "0.4", "-distance", "30", "-thick", "0.001", "-fluence", "2e21", "-seed", "7", "-noisefile", "air.img")
    for mode in ([], ["-fix_quirks"]):
        out = tmp_path / f"x{len(mode)}"
        setup_folder(out)
        (out / "air.img").write_bytes((d / "air.img").read_bytes())
        r = nonbragg(out, "-stol", "air.stol", "-img", "air.img", "-thick", "0.001", "-fluence", "2e21", "-stolout", "s.txt", "-nonoise", *mode)
        assert r.returncode == 0, r.stderr
        img = float_image(out).astype(np.float64)
        rows = [line.split() for line in (out / "s.txt").read_text().splitlines()]
        assert rows, "no extracted rows"
        medians = {float(row[3]) for row in rows}
        if mode:
            assert stat(r.stdout, "mean") == pytest.approx(img.mean(), rel=1e-5)
            assert medians != {0.0}
        else:
            assert stat(r.stdout, "mean") != pytest.approx(img.mean(), rel=1e-3)
            assert medians == {0.0}
        # The extracted F follows the table (air: 14.1 at 0 falling with stol).
        assert 5 < float(rows[0][1]) < 15


def test_q7_pgm_size_and_nopgm(tmp_path: pathlib.Path) -> None:
    # The same PGM scale in both modes (the corrected rmsd would change the automatic one).
    # The same geometry (Q2 moves the default beam centre).
    same = ["-pgmscale", "0.05", "-Xbeam", "6.4", "-Ybeam", "6.4"]
    nonbragg(tmp_path / "q", "-stol", "water.stol", *BASE, "-nonoise", "-nopgm", *same)
    nonbragg(tmp_path / "f", "-stol", "water.stol", *BASE, "-nonoise", "-fix_quirks", *same)
    nonbragg(tmp_path / "n", "-stol", "water.stol", *BASE, "-nonoise", "-fix_quirks", "-nopgm")
    q, f = (tmp_path / "q" / "image.pgm").read_bytes(), (tmp_path / "f" / "image.pgm").read_bytes()
    assert len(q) - len(f) == 32 * 32
    assert q[: len(f)] == f
    assert not (tmp_path / "n" / "image.pgm").exists()


def test_q11_twotheta_axis(tmp_path: pathlib.Path) -> None:
    args = ["-stol", "water.stol", *BASE, "-nonoise", "-twotheta_axis", "1", "0", "0"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    assert header(tmp_path / "q")["TWOTHETA"] == "1"
    assert header(tmp_path / "f")["TWOTHETA"] == "0"


def test_q12_orgx(tmp_path: pathlib.Path) -> None:
    args = ["-stol", "unity.stol", *BASE, "-nonoise", "-ORGX", "10.25", "-ORGY", "12.25"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    assert (header(tmp_path / "q")["ORGX"], header(tmp_path / "f")["ORGX"]) == ("10.25", "10.25")
    # The closest point is the brightest pixel of a flat table: at ORGX·px = 4.1 mm (pixel
    # 10) in the reference, at (ORGX − 0.5)·px = 3.9 mm (pixel 9) corrected.
    q, f = float_image(tmp_path / "q"), float_image(tmp_path / "f")
    assert np.unravel_index(np.argmax(q), q.shape) == (12, 10)
    assert np.unravel_index(np.argmax(f), f.shape) == (11, 9)


def test_q13_close_distance_sign(tmp_path: pathlib.Path) -> None:
    args = ["-stol", "water.stol", *BASE, "-nonoise", "-detector_roty", "180"]
    nonbragg(tmp_path / "q", *args)
    nonbragg(tmp_path / "f", *args, "-fix_quirks")
    assert float(header(tmp_path / "q")["CLOSE_DISTANCE"]) < 0
    assert float(header(tmp_path / "f")["CLOSE_DISTANCE"]) > 0


def test_q16_negative_pgm_wraps(tmp_path: pathlib.Path) -> None:
    # Negative pixels (ice's negative lobes) wrap modulo 256 as the x86 cast does. (Corrected,
    # F is clamped at 0, so no pixel is negative; the clamp of the PGM itself is a core test.)
    args = ["-stol", "ice.stol", "-detpixels", "64", "-pixel", "0.4", "-distance", "40", "-thick", "0.001", "-fluence", "1e19", "-nonoise", "-pgmscale", "1e-5"]
    nonbragg(tmp_path, *args)
    n = 64 * 64
    img = float_image(tmp_path).astype(np.float64)
    raw = (tmp_path / "image.pgm").read_bytes()
    pgm = np.frombuffer(raw[len(raw) - 2 * n : len(raw) - n], dtype=np.uint8).reshape(64, 64)
    neg = img * 1e-5 <= -1
    assert neg.any()
    assert np.array_equal(pgm[neg], (np.trunc(img[neg] * 1e-5).astype(np.int64) % 256).astype(np.uint8))


# ---------------------------------------------------------------- Background


def test_background_object(tmp_path: pathlib.Path) -> None:
    bg = Background("water", thickness_mm=0.001)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bg.thickness_mm = 2  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        bg.colour = "blue"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="thickness_mm"):
        Background("water", thickness_mm=-1)
    with pytest.raises(ValueError, match="material"):
        Background("mud")
    img = bg.render(distance_mm=40, detpixels=32, pixel_mm=0.4, fluence_ph_per_m2=1e21)
    r = nonbragg(tmp_path, "-stol", "water.stol", *BASE, "-nonoise")
    assert r.returncode == 0
    assert np.array_equal(img, float_image(tmp_path))
    # Thickness scales the image linearly (molecules ∝ volume).
    twice = dataclasses.replace(bg, thickness_mm=0.002).render(distance_mm=40, detpixels=32, pixel_mm=0.4, fluence_ph_per_m2=1e21)
    assert np.allclose(twice, 2 * img, rtol=1e-6)


def test_a_detector_too_large_for_memory_is_refused_before_rendering(tmp_path: pathlib.Path) -> None:
    # 44000² pixels (under the 2e9-pixel bound) need 35 GB of images.
    with open("/proc/meminfo") as f:
        avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    if avail > 30e9:
        pytest.skip(f"this machine has {avail / 1e9:.0f} GB available, more than the 35 GB the test asks for")
    r = nonbragg(tmp_path, "-stol", "water.stol", "-detpixels", "44000")
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and line.endswith(" available"), line
    assert "-detpixels: the image set of 44000 x 44000 pixels needs" in line, line
    assert not any((tmp_path / n).exists() for n in ("floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"))
