"""Property-based parity with nanoBragg.c: random command lines drawn over the whole flag space
(tests/strategies.py) are rendered by the reference binary and by us, and must give the same
images: every float pixel within the corpus's agreement rule
(|ours - ref| <= 1e-5 |ref| + 1e-7 max(ref)), the integer image within one count (identical
when the float images are identical, as are the noise images), the SMV header values equal.
Where the reference's float image holds NaN or inf (a sensor layer seen edge-on, an overflow)
the rule cannot hold: ours must then be the same bit for bit, and the integer images, C
conversions of NaN or inf, are not compared.

Each program runs in its own fresh folder holding only the generated input files (the
reference reads a stale Fdump.bin whenever -hkl is absent), the reference with
OMP_NUM_THREADS=1 (its phi carry-over depends on the thread count). A failure prints the
command line and input files to reproduce it, and keeps both folders under
$TMPDIR/nanobragg-property-failures/<test>/ (the last failing example, i.e. the shrunk one).

Example counts come from the Hypothesis profile (tests/conftest.py): "dev" (40, the same
ones every run) by default, ``--hypothesis-profile thorough`` for 1000 new ones.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings

from conftest import agrees, run_cli
from nanobragg_rs import config_from_args
from strategies import CommandLine, command_lines

#: Output names put first; -nopgm because the preview is not compared here.
OUTPUTS = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-nopgm", "-noprogress"]
FAILURES = pathlib.Path(tempfile.gettempdir()) / "nanobragg-property-failures"


def read_smv(path: pathlib.Path) -> tuple[dict[str, str], np.ndarray]:
    """Header values and pixels of an SMV file (the pixels are the last SIZE1*SIZE2*2 bytes)."""
    raw = path.read_bytes()
    head = raw[: raw.index(b"}")].decode("ascii", "replace")
    values = {}
    for line in head.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().rstrip(";")
    width, height = int(values["SIZE1"]), int(values["SIZE2"])
    data = np.frombuffer(raw[len(raw) - 2 * width * height :], dtype="<u2").reshape(height, width)
    return values, data


def run_reference(binary: str, case: CommandLine, folder: pathlib.Path) -> subprocess.CompletedProcess[str]:
    case.write_inputs(folder)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [binary, *OUTPUTS, *case.args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
    )


def run_ours(case: CommandLine, folder: pathlib.Path) -> tuple[int, str]:
    """Our CLI in-process; warnings (e.g. numpy's on an image with NaN pixels, which the
    reference also renders) are shown as they would be outside pytest, not raised."""
    folder.mkdir(parents=True, exist_ok=True)
    case.write_inputs(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_cli(OUTPUTS + list(case.args), folder, inputs=None)
    for w in caught:
        event(f"our CLI warned: {w.category.__name__}")
        note(f"our CLI warned: {w.category.__name__}: {w.message}")
    return res.returncode, res.stderr


def _where(idx: np.ndarray) -> str:
    return ", ".join(f"(f={f}, s={s})" for s, f in idx)


def compare_outputs(ref_dir: pathlib.Path, our_dir: pathlib.Path) -> list[str]:
    """Every way our outputs differ from the reference's, as readable lines."""
    problems: list[str] = []
    ref_header, ref_int = read_smv(ref_dir / "int.img")
    our_header, our_int = read_smv(our_dir / "int.img")
    shape = ref_int.shape
    if our_int.shape != shape:
        return [f"image size: ours {our_int.shape[::-1]} (fast x slow), reference {shape[::-1]}"]
    ref = np.fromfile(ref_dir / "float.bin", dtype="<f4").reshape(shape)
    ours = np.fromfile(our_dir / "float.bin", dtype="<f4").reshape(shape)

    identical = np.array_equal(ours.view(np.uint32), ref.view(np.uint32))
    event("float image bit-identical" if identical else "float image not bit-identical")
    finite = bool(np.isfinite(ref).all())
    if not finite:
        # e.g. a sensor layer seen edge-on (0/0 in the capture fraction) or an overflow; the
        # agreement rule cannot hold, so the bits must be the same, and the integer images
        # (C conversions of NaN or inf: undefined behaviour) are not compared
        event("reference image has non-finite pixels")
        if not identical:
            count = int((~np.isfinite(ref)).sum())
            problems.append(f"the reference image has {count} non-finite pixels and ours is not the same bit for bit")
    with np.errstate(invalid="ignore", over="ignore"):
        ok = agrees(ours, ref) if finite else np.ones(shape, dtype=bool)
    if not ok.all():
        bad = np.argwhere(~ok)
        diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
        diff[np.isnan(diff)] = np.inf
        diff[ok] = 0.0
        worst = np.unravel_index(np.argmax(diff), shape)
        rel = diff[worst] / abs(float(ref[worst])) if ref[worst] else float("inf")
        problems.append(
            f"float image: {len(bad)} of {ref.size} pixels disagree beyond the agreement rule; "
            f"worst at (f={worst[1]}, s={worst[0]}): ours {float(ours[worst])!r}, reference {float(ref[worst])!r} "
            f"(relative difference {rel:.3g}; max(ref) = {float(ref.max())!r}); "
            f"first: {_where(bad[:8])}"
        )
    elif not identical:
        rel = np.abs(ours.astype(np.float64) - ref) / np.maximum(np.abs(ref.astype(np.float64)), 1e-300)
        count = int((ours != ref).sum())
        note(f"float images agree but are not bit-identical: {count} pixels, max relative {rel.max():.3g}")

    # the integer image: the same when the float images are, else at most one count apart
    if not finite:
        pass
    elif identical:
        if not np.array_equal(our_int, ref_int):
            bad = np.argwhere(our_int != ref_int)
            where = _where(bad[:8])
            problems.append(f"int image: {len(bad)} pixels differ although the float images are the same; first: {where}")
        _, ref_noise = read_smv(ref_dir / "noise.img")
        _, our_noise = read_smv(our_dir / "noise.img")
        if not np.array_equal(our_noise, ref_noise):
            bad = np.argwhere(our_noise != ref_noise)
            where = _where(bad[:8])
            problems.append(f"noise image: {len(bad)} pixels differ although the float images are the same; first: {where}")
    elif ok.all():
        step = np.abs(our_int.astype(np.int64) - ref_int.astype(np.int64))
        if step.max() > 1:
            bad = np.argwhere(step > 1)
            problems.append(f"int image: {len(bad)} pixels differ by more than one count; first: {_where(bad[:8])}")
    for key, value in ref_header.items():
        if key != "HEADER_BYTES" and our_header.get(key) != value:
            problems.append(f"SMV header {key}: ours {our_header.get(key)!r}, reference {value!r}")
    return problems


def _keep(name: str, ref_dir: pathlib.Path, our_dir: pathlib.Path) -> pathlib.Path:
    """Copy both run folders where a developer can look at them; returns the place."""
    dest = FAILURES / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copytree(ref_dir, dest / "reference")
    shutil.copytree(our_dir, dest / "ours")
    return dest


def check_parity(binary: str, case: CommandLine, name: str) -> None:
    note(case.describe(prefix=OUTPUTS))
    for tag in case.tags:
        event(tag)
    with tempfile.TemporaryDirectory(prefix="nbprop-") as tmp:
        ref_dir, our_dir = pathlib.Path(tmp) / "reference", pathlib.Path(tmp) / "ours"
        ref_dir.mkdir()
        ref = run_reference(binary, case, ref_dir)
        rc, err = run_ours(case, our_dir)
        problems = []
        if ref.returncode != 0:
            output = ref.stdout[-2000:] + ref.stderr[-2000:]
            problems.append(f"the reference exited with {ref.returncode} (an invalid command line?): {output}")
        if rc != 0:
            problems.append(f"ours exited with {rc}: {err.strip()}")
        if not problems:
            problems = compare_outputs(ref_dir, our_dir)
        if problems:
            kept = _keep(name, ref_dir, our_dir)
            report = "\n".join(
                [
                    "our image differs from nanoBragg.c's for:",
                    case.describe(prefix=OUTPUTS),
                    "(run it with OMP_NUM_THREADS=1 in a folder holding the files above; ours: the same"
                    " arguments after `nanobragg`)",
                    *problems,
                    f"both run folders, input files included, are kept in {kept}",
                ]
            )
            pytest.fail(report, pytrace=False)


@pytest.mark.c_binary
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=command_lines())
def test_random_command_lines_match_the_reference(c_binary: str, case: CommandLine) -> None:
    check_parity(c_binary, case, "random_command_lines")


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=command_lines(max_work=200_000))
def test_drawn_command_lines_run(case: CommandLine) -> None:
    """Every drawn line parses, resolves and renders here, and describes the detector it
    says it does (no reference needed: this guards the strategy itself)."""
    with tempfile.TemporaryDirectory(prefix="nbprop-") as tmp:
        folder = pathlib.Path(tmp)
        case.write_inputs(folder)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            cfg = config_from_args(list(case.args))
        finally:
            os.chdir(cwd)
        cfg.validate()
        rc, err = run_ours(case, folder / "run")
        assert rc == 0, f"{case.describe()}\n{err}"
        header, _ = read_smv(folder / "run" / "int.img")
        assert (int(header["SIZE1"]), int(header["SIZE2"])) == (case.fpixels, case.spixels), case.shell()
    assert case.work > 0
    assert 24 <= case.fpixels <= 96 and 24 <= case.spixels <= 96
