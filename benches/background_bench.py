"""B3 with a water and an air background: one `nanobragg` command against nanoBragg.c plus two
nonBragg.c runs (the way to get that image with the reference programs), on the same machine in
the same session.

    NANOBRAGG_C_BIN=... NONBRAGG_C_BIN=... python benches/background_bench.py [--threads 2] [--repeat 3]

Each run is a whole process (wall time with `time.perf_counter` around `subprocess.run`):
- reference: `nanoBragg B3` (OMP_NUM_THREADS = threads) + `nonBragg` water + `nonBragg` air
  (nonBragg has no threads), timed one after the other and summed;
- ours: `nanobragg B3 -background water:... -background air:...` (RAYON_NUM_THREADS = threads),
  and `nanobragg B3` alone, to show what the background costs.
The summed reference float images are compared with ours under the golden corpus's rule.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))
from bench import BENCHES, INPUTS  # noqa: E402

TABLES = ROOT / "python" / "nanobragg_rs" / "data" / "stol"
WATER_MM, AIR_MM = 0.01, 10.0
# nonBragg with B3's detector and beam (custom vectors: the beam centre means the same).
GEOMETRY = (
    "-Xbeam 217.742295 -Ybeam 213.90708 -distance 231.27466 -lambda 0.9 -pixel 0.172 "
    "-detpixels_x 2463 -detpixels_y 2527 -sdet_vector -0.005998 -0.99997 -0.004913 "
    "-fdet_vector 0.999982 -0.005998 -0.000118 -beam_vector 0.00051387949 0.0 -0.99999986 "
    "-flux 1e+18 -exposure 1 -beamsize 1.0 -oversample 1 -nonoise"
).split()
# Our backgrounds fill the beam's cross-section (1 mm here); nonBragg's sample is 0.1 mm wide
# unless told.
SAMPLE = ["-sample_width", "1", "-sample_height", "1"]
WATER = ["-stol", "water.stol", "-thick", str(WATER_MM), *SAMPLE]
AIR = ["-stol", "air.stol", "-thick", str(AIR_MM), "-density", "0.0012", "-MW", "28.97", *SAMPLE]
BACKGROUNDS = ["-background", f"water:{WATER_MM}", "-background", f"air:{AIR_MM}:0.0012:28.97"]


def timed(cmd: list[str], cwd: pathlib.Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    nano, non = os.environ.get("NANOBRAGG_C_BIN"), os.environ.get("NONBRAGG_C_BIN")
    if not (nano and non):
        sys.exit("set NANOBRAGG_C_BIN and NONBRAGG_C_BIN")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), RAYON_NUM_THREADS=str(a.threads))
    b3 = BENCHES["B3"].split()
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        os.symlink(INPUTS, d / "inputs")
        for name in ("water.stol", "air.stol"):
            (d / name).write_bytes((TABLES / name).read_bytes())
        ours_cmd = [sys.executable, "-m", "nanobragg_rs"]
        out = ["-intfile", "i.img", "-pgmfile", "p.pgm", "-noprogress"]
        ref_t, ours_t, bragg_t = [], [], []
        for _ in range(a.repeat):
            ref_t.append(
                timed([nano, *b3, *out, "-floatfile", "ref_bragg.bin"], d, env)
                + timed([non, *WATER, *GEOMETRY, "-floatfile", "ref_water.bin", "-intfile", "i2.img", "-pgmfile", "p2.pgm"], d, env)
                + timed([non, *AIR, *GEOMETRY, "-floatfile", "ref_air.bin", "-intfile", "i3.img", "-pgmfile", "p3.pgm"], d, env)
            )
            ours_t.append(timed([*ours_cmd, *b3, *BACKGROUNDS, *out, "-floatfile", "ours.bin"], d, env))
            bragg_t.append(timed([*ours_cmd, *b3, *out, "-floatfile", "ours_bragg.bin"], d, env))
        f = lambda n: np.fromfile(d / n, dtype="<f4").astype(np.float64)  # noqa: E731
        ref = f("ref_bragg.bin") + f("ref_water.bin") + f("ref_air.bin")
        ours = f("ours.bin")
        ok = np.abs(ours - ref) <= 1e-5 * np.abs(ref) + 1e-7 * ref.max()
    r, o, b = (statistics.median(x) for x in (ref_t, ours_t, bragg_t))
    print("| bench | reference: nanoBragg.c + 2 nonBragg.c (s) | ours, one command (s) | ours without background (s) | speed-up | background cost | agree |")
    print("|---|---|---|---|---|---|---|")
    print(f"| B3 + water + air | {r:.2f} | {o:.2f} | {b:.2f} | {r / o:.1f}x | +{o - b:.2f} s | {'yes' if ok.all() else f'no ({(~ok).sum()} pixels)'} |")
    print(f"\n{a.threads} threads, whole processes, median of {a.repeat}; {os.uname().machine}, {os.cpu_count()} cores.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
