"""The detector response as a stage of a render (docs/noisify.md): ``nanobragg ... -psf fiber
-readout 3 -gain 2 -seed S`` writes, file for file, what the same render's float image gives
through ``nanobragg noisify`` with the same flags and seed: on one panel, and per panel on a
multi-panel detector (panel k with seed S+k, its own pixel size, the .expt gain unless -gain is
given, the PSF inside the panel). Each expected file is the plain render's SMV header followed
by noisify's pixels, so header and pixels are both checked byte for byte."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs.panels import panels_from_expt, read_panels_json
from nanobragg_rs.panels.cli import panel_path

ROOT = pathlib.Path(__file__).resolve().parents[1]
PANELS = ROOT.parent / "shared" / "golden-panels" / "inputs"
XTAL = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1.0", "-noprogress"]
RESPONSE = ["-psf", "fiber", "-readout", "3", "-gain", "2"]


def require_panels() -> None:
    if not PANELS.is_dir():
        pytest.skip(f"multi-panel inputs not found at {PANELS} (expected ../shared/golden-panels beside the project)")


def ok(res) -> None:
    assert res.returncode == 0, res.stderr


def header_of(path: pathlib.Path, pixels: int, bits: int = 16) -> bytes:
    raw = path.read_bytes()
    return raw[: len(raw) - pixels * bits // 8]


def noisify_files(folder: pathlib.Path, image: np.ndarray, pixel_mm: float, seed: int, flags: list[str]) -> dict[str, bytes]:
    """``nanobragg noisify`` of one float image: its int, noise and PGM files."""
    folder.mkdir(parents=True, exist_ok=True)
    image.astype("<f4").tofile(folder / "in.bin")
    h, w = image.shape
    res = run_cli(["noisify", "-floatfile", "in.bin", "-detpixels_x", str(w), "-detpixels_y", str(h),
                   "-pixel", repr(pixel_mm), "-seed", str(seed), *flags], folder, inputs=None)
    ok(res)
    files = {"int": "intimage.img", "noise": "noiseimage.img", "pgm": "image.pgm"}
    return {name: (folder / f).read_bytes() for name, f in files.items() if (folder / f).exists()}


def check_panels(one: pathlib.Path, plain: pathlib.Path, work: pathlib.Path, panels, seed: int, flags_of, bits: int = 16) -> None:
    """Every panel's response files in ``one`` equal noisify's of that panel's float image,
    under the plain render's (``plain``) headers."""
    floats = np.fromfile(one / "float.bin", dtype="<f4")
    n, start = len(panels), 0
    for k, p in enumerate(panels):
        count = p.fast_pixels * p.slow_pixels
        image = floats[start : start + count].reshape(p.slow_pixels, p.fast_pixels)
        start += count
        want = noisify_files(work / f"p{k}", image, p.pixel_mm, seed + k, flags_of(p))
        head = header_of(plain / panel_path("int.img", k, n), count)
        if bits == 32:
            head = head.replace(b"TYPE=unsigned_short;", b"TYPE=long_integer;").ljust(len(head), b" ")
        for kind, name in (("int", "int.img"), ("noise", "noise.img")):
            assert (one / panel_path(name, k, n)).read_bytes() == head + want[kind][512:], (p.name, kind)
        assert (one / panel_path("image.pgm", k, n)).read_bytes() == want["pgm"], p.name
    assert start == floats.size


OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-pgmfile", "image.pgm"]


def test_one_panel_response_equals_render_then_noisify(tmp_path: pathlib.Path) -> None:
    det = ["-distance", "80", "-detpixels", "64", "-pixel", "0.2", "-seed", "11"]
    one, plain = tmp_path / "one", tmp_path / "plain"
    ok(run_cli([*XTAL, *det, *OUT, *RESPONSE], one, inputs=None))
    ok(run_cli([*XTAL, *det, *OUT], plain, inputs=None))
    image = np.fromfile(one / "float.bin", dtype="<f4").reshape(64, 64)
    assert (one / "float.bin").read_bytes() == (plain / "float.bin").read_bytes()
    want = noisify_files(tmp_path / "n", image, 0.2, 11, RESPONSE)
    head = header_of(plain / "int.img", 64 * 64)
    assert (one / "int.img").read_bytes() == head + want["int"][512:]
    assert (one / "noise.img").read_bytes() == head + want["noise"][512:]
    assert (one / "image.pgm").read_bytes() == want["pgm"]
    # The response really acted: it is not the plain render's noise image.
    assert (one / "noise.img").read_bytes() != (plain / "noise.img").read_bytes()


def test_panels_response_equals_each_panel_through_noisify(tmp_path: pathlib.Path) -> None:
    require_panels()
    # hybrid.json: four panels, two pixel sizes, one facing the sample (rendered turned).
    path = PANELS / "hybrid.json"
    panels = read_panels_json(path)
    one, plain = tmp_path / "one", tmp_path / "plain"
    ok(run_cli([*XTAL, "-panels", str(path), *OUT, *RESPONSE, "-seed", "21"], one, inputs=None))
    ok(run_cli([*XTAL, "-panels", str(path), *OUT, "-seed", "21"], plain, inputs=None))
    assert (one / "float.bin").read_bytes() == (plain / "float.bin").read_bytes()
    check_panels(one, plain, tmp_path / "n", panels, 21, lambda p: RESPONSE)


def test_panels_response_32_bit_gauss_with_flicker(tmp_path: pathlib.Path) -> None:
    require_panels()
    path = PANELS / "quad.json"
    flags = ["-psf", "gauss", "-psf_fwhm", "150", "-psf_radius", "3", "-flicker", "0.02", "-calib_seed", "5", "-bits", "32"]
    one, plain = tmp_path / "one", tmp_path / "plain"
    ok(run_cli([*XTAL, "-panels", str(path), *OUT, *flags, "-seed", "-3"], one, inputs=None))
    ok(run_cli([*XTAL, "-panels", str(path), *OUT, "-seed", "-3"], plain, inputs=None))
    check_panels(one, plain, tmp_path / "n", read_panels_json(path), -3, lambda p: flags, bits=32)


def test_psf_never_crosses_a_panel_boundary(tmp_path: pathlib.Path) -> None:
    """One panel split in two: with a PSF the halves differ from the whole along the cut."""
    require_panels()
    whole = {"name": "w", "fast_axis": [0, 0, 1], "slow_axis": [0, -1, 0], "origin_mm": [80, 4.8, -4.8],
             "fast_pixels": 96, "slow_pixels": 96, "pixel_mm": 0.1}
    top = dict(whole, name="t", slow_pixels=48)
    bottom = dict(whole, name="b", slow_pixels=48, origin_mm=[80, 0.0, -4.8])
    (tmp_path / "whole.json").write_text(json.dumps({"panels": [whole]}))
    (tmp_path / "split.json").write_text(json.dumps({"panels": [top, bottom]}))
    flags = ["-psf", "gauss", "-psf_fwhm", "400", "-psf_radius", "6", "-nonoise", "-calibration", "0"]
    for name in ("whole", "split"):
        ok(run_cli([*XTAL, "-panels", str(tmp_path / f"{name}.json"), *OUT, *flags, "-adc", "0", "-gain", "100",
                    "-bits", "32", "-seed", "1"], tmp_path / name, inputs=None))

    def px(path: pathlib.Path, rows: int) -> np.ndarray:
        return np.frombuffer(path.read_bytes()[-4 * rows * 96 :], "<u4").reshape(rows, 96).astype(float)

    w = px(tmp_path / "whole" / "int_p00.img", 96)
    t, b = px(tmp_path / "split" / "int_p00.img", 48), px(tmp_path / "split" / "int_p01.img", 48)
    # Away from the cut both agree with the whole panel; at the cut each half lacks its
    # neighbour's light.
    assert np.abs(np.vstack([t, b])[10:38] - w[10:38]).max() <= 1
    assert (t[-1] < w[47] - 1).any() and (b[0] < w[48] - 1).any()


def test_expt_gain_per_panel_unless_gain_is_given(tmp_path: pathlib.Path) -> None:
    require_panels()
    doc = json.loads((PANELS / "eiger_tiled.expt").read_text())
    gains = [2.0, 0.5, 1.0, 3.0]
    for p, g in zip(doc["detector"][0]["panels"], gains):
        p["gain"] = g
    expt = tmp_path / "gains.expt"
    expt.write_text(json.dumps(doc))
    panels = panels_from_expt(str(expt))
    assert [p.gain_adu_per_photon for p in panels] == gains
    base = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-noprogress", "-expt", str(expt), *OUT]
    flags = ["-psf", "fiber", "-readout", "2"]
    plain = tmp_path / "plain"
    ok(run_cli([*base, "-seed", "4"], plain, inputs=None))
    one = tmp_path / "own"
    ok(run_cli([*base, *flags, "-seed", "4"], one, inputs=None))
    check_panels(one, plain, tmp_path / "n1", panels, 4, lambda p: [*flags, "-gain", repr(p.gain_adu_per_photon)])
    given = tmp_path / "given"
    ok(run_cli([*base, *flags, "-gain", "1.5", "-seed", "4"], given, inputs=None))
    check_panels(given, plain, tmp_path / "n2", panels, 4, lambda p: [*flags, "-gain", "1.5"])


@pytest.mark.parametrize("extra, flag", [
    (["-psf", "airy"], "-psf"),
    (["-gain", "x"], "-gain"),
    (["-psf", "fiber", "-bits", "8"], "-bits"),
    (["-psf", "fiber", "-h5file", "out.h5"], "-h5file"),
])
@pytest.mark.parametrize("panels", [False, True])
def test_bad_response_is_refused_before_rendering(extra: list[str], flag: str, panels: bool, tmp_path: pathlib.Path) -> None:
    if panels:
        require_panels()
    det = ["-panels", str(PANELS / "quad.json")] if panels else ["-detpixels", "32"]
    res = run_cli([*XTAL, *det, "-seed", "1", *extra], tmp_path, inputs=None)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and flag in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["-seed", "9"], ["-nonoise", "-psf_radius", "4"]], ids=["noise", "nonoise"])
def test_dataset_frame_is_its_render_then_noisify(extra: list[str], tmp_path: pathlib.Path) -> None:
    from nanobragg_rs import Simulator
    from nanobragg_rs.dataset.cli import build
    from nanobragg_rs.dataset.plan import noise_seed
    from nanobragg_rs.dataset.writers import file_of_frame
    from nanobragg_rs.io.smv import header_text

    args = [*XTAL, "-detpixels", "48", "-pixel", "0.2", "-distance", "80", "-osc", "0.5", "-frames", "2",
            "-format", "smv", "-out", str(tmp_path / "ds" / "run"), *RESPONSE, *extra]
    ok(run_cli(["dataset", *args], tmp_path, inputs=None))
    plan, out, _ = build(args)
    for index in range(2):
        sim = Simulator(plan.frame_config(index))
        image = sim.render()
        noise = "-nonoise" not in extra
        seed = noise_seed(9, index) if noise else 1
        want = noisify_files(tmp_path / f"n{index}", image, 0.2, seed, [*RESPONSE, *extra[2 * noise :]])
        got = pathlib.Path(file_of_frame(plan, out, index)).read_bytes()
        assert got == header_text(sim.setup.header.as_dict()) + want["noise" if noise else "int"][512:], index


def test_dataset_nxmx_frames_hold_the_response_counts(tmp_path: pathlib.Path) -> None:
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("hdf5plugin")
    from nanobragg_rs.dataset.cli import build
    from nanobragg_rs.dataset.plan import noise_seed
    from nanobragg_rs.dataset.writers import data_file

    args = [*XTAL, "-detpixels", "40", "-pixel", "0.2", "-distance", "80", "-frames", "2", "-float_images",
            "-out", str(tmp_path / "ds" / "run"), "-psf", "gauss", "-psf_fwhm", "300", "-gain", "3", "-seed", "2"]
    ok(run_cli(["dataset", *args], tmp_path, inputs=None))
    plan, out, _ = build(args)
    with h5py.File(data_file(out, 0)) as f:
        data, floats = f["entry/data/data"][()], f["entry/data/noiseless"][()]
    for index in range(2):
        want = noisify_files(tmp_path / f"n{index}", floats[index], 0.2, noise_seed(2, index),
                             ["-psf", "gauss", "-psf_fwhm", "300", "-gain", "3"])
        assert np.array_equal(data[index], np.frombuffer(want["noise"][512:], "<u2").reshape(40, 40))


@pytest.mark.parametrize("extra, flag", [(["-psf", "airy"], "-psf"), (["-readout", "lots"], "-readout"), (["-bits", "12"], "-bits")])
def test_dataset_refuses_a_bad_response_flag(extra: list[str], flag: str, tmp_path: pathlib.Path) -> None:
    res = run_cli(["dataset", *XTAL, "-detpixels", "32", "-frames", "2", "-format", "smv", "-out", "run", *extra],
                  tmp_path, inputs=None)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and flag in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_panel_file_gain(tmp_path: pathlib.Path) -> None:
    from nanobragg_rs.panels.model import PanelFileError

    panel = {"name": "a", "fast_axis": [0, 0, 1], "slow_axis": [0, -1, 0], "origin_mm": [80, 3.2, -3.2],
             "fast_pixels": 64, "slow_pixels": 64, "pixel_mm": 0.1}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"panels": [dict(panel, gain_adu_per_photon=4.5), dict(panel, name="b")]}))
    a, b = read_panels_json(path)
    assert (a.gain_adu_per_photon, b.gain_adu_per_photon) == (4.5, None)
    path.write_text(json.dumps({"panels": [dict(panel, gain_adu_per_photon=-1)]}))
    with pytest.raises(PanelFileError, match="gain_adu_per_photon"):
        read_panels_json(path)


def test_geom_gain_per_panel(tmp_path: pathlib.Path) -> None:
    """A CrystFEL .geom's adu_per_photon, or adu_per_eV times its photon_energy, is the panel's
    gain for the response; -gain overrides it."""
    require_panels()
    pytest.importorskip("cfelpyutils")
    from nanobragg_rs.panels import panels_from_geom

    text = (PANELS / "cspad_like.geom").read_text() + "\na1/adu_per_photon = 5\n"
    geom = tmp_path / "g.geom"
    geom.write_text(text)
    panels = panels_from_geom(str(geom))
    assert [p.gain_adu_per_photon for p in panels] == pytest.approx([0.00338 * 9500, 5.0, 0.00338 * 9500, 0.00338 * 9500])
    base = [*XTAL, "-geom", str(geom), *OUT, "-seed", "6"]
    plain, one = tmp_path / "plain", tmp_path / "one"
    ok(run_cli(base, plain, inputs=None))
    ok(run_cli([*base, "-psf", "gauss", "-psf_radius", "2", "-calibration", "0"], one, inputs=None))
    check_panels(one, plain, tmp_path / "n", panels, 6,
                 lambda p: ["-psf", "gauss", "-psf_radius", "2", "-calibration", "0", "-gain", repr(p.gain_adu_per_photon)])


def test_panel_seeds_must_stay_32_bit(tmp_path: pathlib.Path) -> None:
    """Panel k draws with seed S+k: for four panels S = 2^31 - 2 leaves the range at panel 2."""
    require_panels()
    res = run_cli([*XTAL, "-panels", str(PANELS / "quad.json"), "-psf", "fiber", "-seed", "2147483646"], tmp_path, inputs=None)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "-seed" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
