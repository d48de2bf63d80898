"""Time ``nanobragg noisify`` against noisify.c on a 2463x2527 image with a fiber PSF.

    NOISIFY_C_BIN=/path/to/noisify python benches/noisify_bench.py [--repeat 3] [--write-readme]

Both programs run as whole processes (start-up, reading, the PSF, writing the three files),
alternating, in one session; the outputs are compared byte for byte. The image is a synthetic
Pilatus-sized frame (a weak background with a few thousand Bragg-like spots, deterministic),
run with ``-psf fiber -psf_fwhm 46 -seed 1`` (0.1 mm pixels, automatic radius) and with
``-psf_radius 8``. Beside each whole-process time, the response stage alone (``Response.run``
on the array in this process). The corrected mode (``-fix_quirks``) with a fixed radius is
timed against the reference's exact run of the same radius, by FFT and by the direct sum
(``NANOBRAGG_PSF_DIRECT=1``); there the check is that the two of ours agree (ADU within 1).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SHAPE = (2527, 2463)
def _exact(r: int) -> list[str]:
    return ["-psf", "fiber", "-psf_fwhm", "46", "-psf_radius", str(r)]


def _fixed(r: int) -> list[str]:
    return [*_exact(r), "-fix_quirks"]


#: name -> (our flags, the reference's flags or None for the same, environment for ours)
CASES: dict[str, tuple[list[str], list[str] | None, dict[str, str]]] = {
    "N1 automatic radius": (["-psf", "fiber", "-psf_fwhm", "46"], None, {}),
    "N2 -psf_radius 8": (["-psf", "fiber", "-psf_fwhm", "46", "-psf_radius", "8"], None, {}),
    # The corrected mode picks the direct sum or the FFT by their estimated cost: with the noise
    # image's photons (a quarter of the pixels non-zero) the FFT pays from a radius of about 21.
    "F1 -fix_quirks -psf_radius 20 (direct sum chosen)": (_fixed(20), _exact(20), {}),
    "F2 -fix_quirks -psf_radius 40 (FFT chosen)": (_fixed(40), _exact(40), {}),
    "F3 -fix_quirks -psf_radius 40, direct sum forced": (_fixed(40), _exact(40), {"NANOBRAGG_PSF_DIRECT": "1"}),
}


def make_image(path: pathlib.Path) -> None:
    rng = np.random.default_rng(1)
    img = rng.exponential(0.3, SHAPE).astype(np.float32)
    ys, xs = rng.integers(0, SHAPE[0], 3000), rng.integers(0, SHAPE[1], 3000)
    for y, x, peak in zip(ys, xs, rng.exponential(200.0, 3000)):
        img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] += np.float32(peak / 4)
        img[y, x] += np.float32(peak)
    img.astype("<f4").tofile(path)


def timed(cmd: list[str], cwd: pathlib.Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, all threads) seconds of one process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stage_alone(image: np.ndarray, flags: list[str], env: dict[str, str], repeat: int) -> float:
    """Median seconds of the response stage alone (Response.run) in this process."""
    from nanobragg_rs.noisify import parse, response_of

    resp = response_of(parse(["-floatfile", "x", *flags]))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            resp.run(image, seed=1)
            times.append(time.perf_counter() - t0)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return statistics.median(times)


def agreement(a: pathlib.Path, b: pathlib.Path) -> str:
    """'yes' for identical files, 'within 1 ADU' for SMV pixels that differ by at most 1."""
    x, y = a.read_bytes(), b.read_bytes()
    if x == y:
        return "yes"
    if len(x) != len(y) or x[:512] != y[:512]:
        return "NO"
    d = np.abs(np.frombuffer(x[512:], "<u2").astype(np.int64) - np.frombuffer(y[512:], "<u2").astype(np.int64))
    return f"within 1 ADU ({int((d > 0).sum())} px)" if d.max() <= 1 else f"NO (max {int(d.max())})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-readme", action="store_true")
    opts = ap.parse_args()
    ref_bin = os.environ.get("NOISIFY_C_BIN")
    if not ref_bin:
        print("set NOISIFY_C_BIN to a build of noisify.c", file=sys.stderr)
        return 2
    ours = [sys.executable, "-m", "nanobragg_rs", "noisify"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        make_image(root / "frame.bin")
        image = np.fromfile(root / "frame.bin", dtype="<f4").reshape(SHAPE)
        exact: dict[str, pathlib.Path] = {}
        ref_times: dict[str, list[tuple[float, float]]] = {}
        for name, (flags, ref_flags, env) in CASES.items():
            args = ["-floatfile", "../frame.bin", "-seed", "1"]
            dirs = {k: root / f"{k}-{len(rows)}" for k in ("ref", "ours")}
            for d in dirs.values():
                d.mkdir()
            t_ref, t_ours = [], []
            ref_key = " ".join(ref_flags or flags)
            for _ in range(opts.repeat):
                if ref_key not in ref_times:
                    t_ref.append(timed([ref_bin, *args, *(ref_flags or flags)], dirs["ref"]))
                t_ours.append(timed([*ours, *args, *flags], dirs["ours"], env))
            # The reference's runs of a radius are timed once, for the cases that share them.
            t_ref = ref_times.setdefault(ref_key, t_ref)
            alone = stage_alone(image, flags, env, opts.repeat)
            if ref_flags is None:
                same = all(
                    (dirs["ref"] / f).read_bytes() == (dirs["ours"] / f).read_bytes()
                    for f in ("intimage.img", "noiseimage.img", "image.pgm")
                )
                check = "yes" if same else "NO"
            else:
                # The corrected mode has no reference: the FFT and the direct sum must agree.
                key = " ".join(flags)
                if key in exact:
                    check = "FFT vs direct: " + agreement(exact[key] / "noiseimage.img", dirs["ours"] / "noiseimage.img")
                else:
                    exact[key] = dirs["ours"]
                    check = "(corrected)"
            r, o = (statistics.median(w for w, _ in t) for t in (t_ref, t_ours))
            rc, oc = (statistics.median(c for _, c in t) for t in (t_ref, t_ours))
            rows.append(f"| {name} | {r:.2f} | {o:.2f} | {alone:.2f} | {r / o:.1f}x | {rc:.2f} / {oc:.2f} | {check} |")
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            "| case (2463x2527, `-psf fiber -psf_fwhm 46 -seed 1`) | noisify.c (s) | ours (s) | ours, stage alone (s) | speed-up | CPU s noisify.c / ours | files identical |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"whole processes, median of {opts.repeat} alternating runs, {os.cpu_count()} cores "
            f"({platform.machine()}, {platform.processor() or 'cpu'}), noisify.c single-threaded (it has no OpenMP code), "
            f"ours on all cores; load average {os.getloadavg()[0]:.1f} at the end, {datetime.date.today().isoformat()}.",
        ]
    )
    print(table)
    if opts.write_readme:
        readme = HERE / "README.md"
        text = readme.read_text()
        start, end = "<!-- noisify-table -->", "<!-- /noisify-table -->"
        block = f"{start}\n{table}\n{end}"
        if start in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
        else:
            text += (
                "\n## noisify: the detector response\n\n"
                "`benches/noisify_bench.py` times `nanobragg noisify` against noisify.c (`NOISIFY_C_BIN`) on a\n"
                "synthetic 2463x2527 frame (background and 3000 spots) with a fiber PSF, whole processes\n"
                "including Python's start-up, and checks the three output files are identical.\n\n"
                f"{block}\n"
            )
        readme.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
