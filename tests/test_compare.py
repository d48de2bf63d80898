"""``nanobragg compare A B`` and ``compare_images``: the agreement rule, summary statistics,
spot positions, the image formats it reads, the PNG and the errors."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from conftest import GOLDEN, OUTPUT_ARGS, agrees, require_golden, run_cli
from nanobragg_rs.cli import main
from nanobragg_rs.compare import compare_images, find_spots, load_image, match_spots

CASE = "cubic_default"  # 128 x 128, 49 spots, renders in well under a second


def golden_float(name: str = CASE) -> np.ndarray:
    require_golden()
    case = next(c for c in json.loads((GOLDEN / "manifest.json").read_text()) if c["name"] == name)
    path = GOLDEN / "cases" / name / "float.bin"
    return np.fromfile(path, dtype="<f4").reshape(case["spixels"], case["fpixels"])


def compare(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    rc = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def report_value(report: str, label: str) -> float:
    """The first number after ``label`` in the report."""
    line = next(line for line in report.splitlines() if line.startswith(label))
    return float(line[len(label) :].split()[0])


def write_float(path: pathlib.Path, image: np.ndarray) -> pathlib.Path:
    np.ascontiguousarray(image, dtype="<f4").tofile(path)
    return path


def write_smv(path: pathlib.Path, image: np.ndarray, header_fields: str | None = None) -> pathlib.Path:
    """A minimal SMV file (unsigned 16-bit pixels)."""
    h, w = image.shape
    fields = header_fields or f"SIZE1={w};\nSIZE2={h};\n"
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n" + fields + "}\f").encode()
    path.write_bytes(head.ljust(512, b" ") + np.ascontiguousarray(image, dtype="<u2").tobytes())
    return path


def blobs(shape: tuple[int, int], centres: list[tuple[int, int]], height: float = 100.0) -> np.ndarray:
    """Gaussian spots (sigma 1 px) on a flat background of 1, centred on whole pixels."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.ones(shape)
    for s, f in centres:
        image += height * np.exp(-((yy - s) ** 2 + (xx - f) ** 2) / 2.0)
    return image


# --- the golden corpus -------------------------------------------------------------------


def test_golden_image_against_itself_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    ref = golden_float()
    c = compare_images(ref, ref)
    assert c.agree and c.disagreeing == 0 and c.disagreeing_fraction == 0.0
    assert c.correlation == pytest.approx(1.0, abs=1e-12)
    assert c.sum_ratio == 1.0 and c.max_abs_diff == 0.0 and c.max_rel_diff == 0.0
    assert len(c.reference_spots) == len(c.our_spots) == len(c.matches) > 10
    assert c.unmatched_reference == c.unmatched_ours == 0 and c.max_spot_distance == 0.0

    path = GOLDEN / "cases" / CASE / "float.bin"
    rc, out, err = compare(capsys, path, path)
    assert (rc, err) == (0, "")
    assert report_value(out, "correlation:") == 1.0
    assert report_value(out, "disagreeing:") == 0
    assert out.rstrip().endswith("AGREE")


def test_our_render_agrees_with_the_reference(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_golden()
    case = next(c for c in json.loads((GOLDEN / "manifest.json").read_text()) if c["name"] == CASE)
    res = run_cli(OUTPUT_ARGS + case["args"], tmp_path)
    assert res.returncode == 0, res.stderr
    ref_dir = GOLDEN / "cases" / CASE
    # Shapes come from the int.img beside each float.bin.
    for name in ("float.bin", "int.img", "noise.img"):
        rc, out, err = compare(capsys, ref_dir / name, tmp_path / name)
        assert (rc, err) == (0, ""), out
        assert report_value(out, "sum ratio (ours/reference):") == pytest.approx(1.0, abs=1e-6)


def test_perturbed_image_disagrees_with_the_expected_numbers(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = golden_float().astype(np.float64)
    rng = np.random.default_rng(7)
    ours = np.roll(1.5 * ref, (3, 4), axis=(0, 1)) + rng.normal(0.0, 0.05, ref.shape)

    c = compare_images(ref, ours)
    assert not c.agree and c.disagreeing_fraction > 0.5
    assert c.sum_ratio == pytest.approx(1.5, abs=1e-3)
    assert c.median_spot_distance == pytest.approx(5.0, abs=0.02)
    # Every spot clear of the edges the roll wraps across moved by exactly (3, 4).
    moved = {m.reference: m.distance for m in c.matches}
    inside = [s for s in c.reference_spots if s.slow < ref.shape[0] - 8 and s.fast < ref.shape[1] - 8]
    assert len(inside) > 20
    assert all(moved.get(s, np.inf) == pytest.approx(5.0, abs=0.02) for s in inside)

    a, b = write_float(tmp_path / "a.bin", ref), write_float(tmp_path / "b.bin", ours)
    rc, out, err = compare(capsys, a, b, "--top", "3")
    assert (rc, err) == (1, "")
    assert report_value(out, "sum ratio (ours/reference):") == pytest.approx(1.5, abs=1e-3)
    assert report_value(out, "spot distance: median") == pytest.approx(5.0, abs=0.02)
    assert "largest disagreements (3)" in out and "strongest reference spots (3)" in out
    assert out.rstrip().endswith("DISAGREE")


def test_smv_against_smv(capsys: pytest.CaptureFixture[str]) -> None:
    require_golden()
    folder = GOLDEN / "cases" / CASE
    rc, out, _ = compare(capsys, folder / "int.img", folder / "int.img")
    assert rc == 0
    rc, out, _ = compare(capsys, folder / "int.img", folder / "noise.img")
    assert rc == 1
    # Poisson noise moves no spot by more than a fraction of a pixel.
    assert report_value(out, "spot distance: median") < 0.5


def test_rectangular_float_takes_its_shape_from_the_smv_beside_it() -> None:
    ref = golden_float("rectangular")
    image = load_image(GOLDEN / "cases" / "rectangular" / "float.bin")
    assert image.shape == (96, 160) and image.dtype == np.float64
    np.testing.assert_array_equal(image, ref)


# --- the agreement rule and the statistics -------------------------------------------------


def test_rule_matches_the_corpus_rule() -> None:
    rng = np.random.default_rng(3)
    ref = rng.exponential(10.0, (40, 50)).astype(np.float32)
    ours = ref * (1 + rng.normal(0, 1.2e-5, ref.shape)).astype(np.float32)
    c = compare_images(ref, ours)
    expected = agrees(ours, ref)
    assert 0 < c.disagreeing < ref.size
    assert c.disagreeing == int((~expected).sum())
    assert c.agree is False
    assert compare_images(ref, ref * np.float32(1 + 5e-6)).agree
    assert not compare_images(ref, ref * np.float32(1 + 5e-5)).agree


def test_scaled_image_keeps_its_spots_in_place() -> None:
    ref = blobs((64, 80), [(10, 10), (30, 50), (50, 20)])
    c = compare_images(ref, 2 * ref)
    assert c.sum_ratio == pytest.approx(2.0) and c.correlation == pytest.approx(1.0)
    assert c.max_abs_diff == pytest.approx(ref.max()) and c.max_rel_diff == pytest.approx(1.0)
    assert len(c.matches) == 3 and c.max_spot_distance == pytest.approx(0.0, abs=1e-9)
    assert not c.agree and c.disagreeing == ref.size


def test_spot_centroids_matching_and_unmatched_counts() -> None:
    ref = blobs((64, 64), [(10, 12), (40, 40), (20, 50)])
    spots = find_spots(ref)
    assert sorted((round(s.slow, 6), round(s.fast, 6)) for s in spots) == [(10, 12), (20, 50), (40, 40)]
    # Ours: one spot shifted by (3, 4), one missing, one extra far away.
    ours = blobs((64, 64), [(13, 16), (40, 40), (55, 5)])
    c = compare_images(ref, ours)
    assert sorted(round(m.distance, 6) for m in c.matches) == [0.0, 5.0]
    assert (c.unmatched_reference, c.unmatched_ours) == (1, 1)
    assert c.max_spot_distance == pytest.approx(5.0) and c.median_spot_distance == pytest.approx(2.5)
    # A radius below the shift leaves that pair unmatched.
    assert len(compare_images(ref, ours, match_radius=4.9).matches) == 1


def test_each_reference_spot_takes_the_nearest() -> None:
    ref = find_spots(blobs((40, 40), [(10, 10), (10, 16)]))
    ours = find_spots(blobs((40, 40), [(10, 13), (30, 30)]))
    pairs = match_spots(ref, ours, radius=10)
    assert [p.ours for p in pairs] == [ours[0], ours[0]]
    assert [p.distance for p in pairs] == pytest.approx([3.0, 3.0])
    c = compare_images(blobs((40, 40), [(10, 10), (10, 16)]), blobs((40, 40), [(10, 13), (30, 30)]))
    assert (c.unmatched_reference, c.unmatched_ours) == (0, 1)


def test_spots_touching_diagonally_are_one_spot() -> None:
    image = np.zeros((20, 20))
    image[5, 5] = image[6, 6] = image[7, 7] = 10.0
    image[15, 2] = 10.0
    spots = find_spots(image, sigma=1.0)
    assert sorted(s.pixels for s in spots) == [1, 3]
    assert find_spots(np.full((8, 8), 3.0)) == ()


def test_non_finite_pixels_disagree() -> None:
    ref = blobs((32, 32), [(16, 16)])
    ours = ref.copy()
    ours[3, 7] = np.nan
    c = compare_images(ref, ours)
    assert c.disagreeing == 1 and c.worst_pixel == (3, 7) and not c.agree


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        compare_images(np.zeros((4, 5)), np.zeros((5, 4)))


# --- formats ---------------------------------------------------------------------------------


def test_raw_shape_from_an_smv_sibling_before_a_square(tmp_path: pathlib.Path) -> None:
    image = np.arange(90 * 160, dtype=np.float32).reshape(90, 160)  # 14400 = 120², not square
    path = write_float(tmp_path / "float.bin", image)
    assert load_image(path).shape == (120, 120)
    write_smv(tmp_path / "float.img", np.zeros((90, 160)))
    np.testing.assert_array_equal(load_image(path), image)
    assert load_image(path, shape=(160, 90)).shape == (160, 90)  # an explicit shape wins


def test_raw_shape_from_the_other_image(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = blobs((30, 50), [(15, 25)])
    raw = write_float(tmp_path / "a.bin", image)
    smv = write_smv(tmp_path / "b.img", np.rint(image))
    (tmp_path / "c").mkdir()
    alone = write_float(tmp_path / "c" / "a.bin", image)
    for a, b in ((raw, smv), (smv, raw), (alone, smv), (smv, alone)):
        rc, out, err = compare(capsys, a, b)
        assert rc == 1 and err == "" and "30 x 50" in out


def test_hdf5_frames_and_datasets(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5py = pytest.importorskip("h5py")
    frames = np.stack([blobs((24, 32), [(5, 5)]), blobs((24, 32), [(12, 20)])]).astype(np.float32)
    path = tmp_path / "image.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=frames)
        f.create_dataset("other/single", data=frames[1])
    np.testing.assert_array_equal(load_image(path), frames[0])
    np.testing.assert_array_equal(load_image(path, frame=1), frames[1])
    np.testing.assert_array_equal(load_image(path, dataset="/other/single"), frames[1])
    raw = write_float(tmp_path / "frame1.bin", frames[1])
    rc, _, err = compare(capsys, raw, path, "--frame", "1", "--shape", 24, 32)
    assert (rc, err) == (0, "")
    rc, _, err = compare(capsys, path, raw, "--shape", 24, 32)
    assert rc == 1
    for extra, needle in ((["--frame", "2"], "no frame 2"), (["--dataset", "/nope"], "no dataset at /nope")):
        rc, _, err = compare(capsys, path, path, *extra)
        assert rc == 2 and needle in err and str(path) in err


# --- the picture -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 64), (40, 100)])
def test_png_has_three_panels_side_by_side(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], shape: tuple[int, int]
) -> None:
    mpimg = pytest.importorskip("matplotlib.image")
    ref = blobs(shape, [(10, 10), (20, 30)])
    a = write_float(tmp_path / "a.bin", ref)
    b = write_float(tmp_path / "b.bin", np.roll(ref, 2, axis=1))
    png = tmp_path / "diff.png"
    rc, out, err = compare(capsys, a, b, "--png", png, "--shape", *shape)
    assert (rc, err) == (1, "") and f"wrote {png}" in out
    picture = mpimg.imread(png)
    height, width = picture.shape[:2]
    # Three panels of the image's aspect in a row; titles and colour bars add some height.
    panels_only = 3 * shape[1] / shape[0]
    assert 0.5 * panels_only < width / height < panels_only
    assert picture.std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin", "diff.png"]  # no temporary left


# --- bad input -------------------------------------------------------------------------------


def bad_inputs(tmp: pathlib.Path) -> list[tuple[list[object], str]]:
    """(arguments, text the one-line error must contain)."""
    good = write_float(tmp / "good.bin", blobs((16, 16), [(8, 8)]))
    wide = write_float(tmp / "wide.bin", np.zeros((10, 20)))
    odd = tmp / "odd.bin"
    odd.write_bytes(b"1234567")
    fake_h5 = tmp / "fake.h5"
    fake_h5.write_bytes(b"not hdf5 at all!")
    return [
        ([tmp / "missing.bin", good], "missing.bin: no such file"),
        ([good, tmp / "missing.img"], "missing.img: no such file"),
        ([good, wide, "--shape", 16, 16], "wide.bin"),
        ([good, wide], "wide.bin: cannot tell the shape"),
        ([good, odd], "odd.bin"),
        ([good, tmp], str(tmp)),
        ([good, fake_h5], "fake.h5"),
        ([good, good, "--shape", 4, 4], "good.bin"),
        ([good, good, "--shape", 0, 256], "--shape"),
        ([good, good, "--png", tmp / "no" / "such" / "dir.png"], "dir.png"),
        ([good], "required"),
        ([good, good, "--bogus"], "--bogus"),
    ]


def test_bad_inputs_exit_2_with_one_line(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, needle in bad_inputs(tmp_path):
        rc, out, err = compare(capsys, *args)
        assert (rc, out) == (2, ""), (args, err)
        assert err.startswith("nanobragg compare: error: ") and err.count("\n") == 1, err
        assert needle in err, (needle, err)


def test_shape_mismatch_names_both_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_float(tmp_path / "a.bin", np.zeros((16, 16)))
    b = write_smv(tmp_path / "b.img", np.zeros((10, 20)))
    rc, out, err = compare(capsys, a, b)
    assert (rc, out) == (2, "") and str(a) in err and str(b) in err and "10x20" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = compare(capsys, "-h")
    assert rc == 0 and "nanobragg compare" in out and "--png" in out
