"""Time ``nanobragg noisify`` against noisify.c on a 2463x2527 image with a fiber PSF.

    NOISIFY_C_BIN=/path/to/noisify python benches/noisify_bench.py [--repeat 3] [--write-readme]

Both programs run as whole processes (start-up, reading, the PSF, writing the three files),
alternating, in one session; the outputs are compared byte for byte. The image is a synthetic
Pilatus-sized frame (a weak background with a few thousand Bragg-like spots, deterministic),
run with ``-psf fiber -psf_fwhm 46 -seed 1`` (0.1 mm pixels, automatic radius) and with
``-psf_radius 8``.
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
CASES = {
    "N1 automatic radius": ["-psf", "fiber", "-psf_fwhm", "46"],
    "N2 -psf_radius 8": ["-psf", "fiber", "-psf_fwhm", "46", "-psf_radius", "8"],
}


def make_image(path: pathlib.Path) -> None:
    rng = np.random.default_rng(1)
    img = rng.exponential(0.3, SHAPE).astype(np.float32)
    ys, xs = rng.integers(0, SHAPE[0], 3000), rng.integers(0, SHAPE[1], 3000)
    for y, x, peak in zip(ys, xs, rng.exponential(200.0, 3000)):
        img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] += np.float32(peak / 4)
        img[y, x] += np.float32(peak)
    img.astype("<f4").tofile(path)


def timed(cmd: list[str], cwd: pathlib.Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, all threads) seconds of one process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
        for name, flags in CASES.items():
            args = ["-floatfile", "../frame.bin", "-seed", "1", *flags]
            dirs = {k: root / f"{k}-{len(rows)}" for k in ("ref", "ours")}
            for d in dirs.values():
                d.mkdir()
            t_ref, t_ours = [], []
            for _ in range(opts.repeat):
                t_ref.append(timed([ref_bin, *args], dirs["ref"]))
                t_ours.append(timed([*ours, *args], dirs["ours"]))
            same = all(
                (dirs["ref"] / f).read_bytes() == (dirs["ours"] / f).read_bytes()
                for f in ("intimage.img", "noiseimage.img", "image.pgm")
            )
            r, o = (statistics.median(w for w, _ in t) for t in (t_ref, t_ours))
            rc, oc = (statistics.median(c for _, c in t) for t in (t_ref, t_ours))
            rows.append(f"| {name} | {r:.2f} | {o:.2f} | {r / o:.1f}x | {rc:.2f} / {oc:.2f} | {'yes' if same else 'NO'} |")
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            "| case (2463x2527, `-psf fiber -psf_fwhm 46 -seed 1`) | noisify.c (s) | ours (s) | speed-up | CPU s noisify.c / ours | files identical |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"whole processes, median of {opts.repeat} alternating runs, {os.cpu_count()} cores "
            f"({platform.machine()}), load average {os.getloadavg()[0]:.1f} at the end, {datetime.date.today().isoformat()}.",
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
