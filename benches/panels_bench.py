"""A Jungfrau 16M-sized detector (32 modules of 1030x514 pixels, 75 um) rendered in one
multi-panel run against the reference run once per panel (the sum of its times).

    NANOBRAGG_C_BIN=/path/to/nanoBragg python benches/panels_bench.py [--threads 2] [--repeat 3]

"ours" is the whole `nanobragg -panels` command as a process (start-up, render, float file and
32 SMV files); "render only" is `MultiSimulator.render` in this process. The reference is the
per-panel command line (`Panel.reference_args`) run 32 times, each writing its float and SMV
file, at the same thread count. The float images are checked under the corpus's rule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

COMMON = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1.0",
          "-oversample", "1", "-nonoise", "-seed", "1"]


def jungfrau16m() -> dict:
    """32 modules, 4 columns x 8 rows, 2 mm gaps, 120 mm from the sample, beam in the middle."""
    fast_mm, slow_mm, gap = 1030 * 0.075, 514 * 0.075, 2.0
    panels = []
    for row in range(8):
        for col in range(4):
            turn = math.radians(0.1 * ((row * 4 + col) % 5 - 2))
            c, s = math.cos(turn), math.sin(turn)
            # Lab frame: beam along +x; fast along +z (horizontal), slow along -y (down).
            z0 = (col - 2) * (fast_mm + gap) + gap / 2
            y0 = (4 - row) * (slow_mm + gap) - gap / 2
            panels.append({"name": f"m{row * 4 + col:02d}", "fast_axis": [0.0, -s, c], "slow_axis": [0.0, -c, -s],
                           "origin_mm": [120.0, y0, z0], "fast_pixels": 1030, "slow_pixels": 514, "pixel_mm": 0.075})
    return {"panels": panels}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ref_bin = os.environ.get("NANOBRAGG_C_BIN")
    from nanobragg_rs.args import parse_args
    from nanobragg_rs.cli import prepare
    from nanobragg_rs.panels import read_panels_json

    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        (work / "j16m.json").write_text(json.dumps(jungfrau16m()))
        panels = read_panels_json(work / "j16m.json")
        n_pixels = sum(p.fast_pixels * p.slow_pixels for p in panels)
        env = {**os.environ, "RAYON_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
        ours_cmd = [sys.executable, "-m", "nanobragg_rs", *COMMON, "-panels", "j16m.json", "-noprogress",
                    "-floatfile", "ours.bin", "-intfile", "ours.img"]
        ours_t, ref_t, render_t = [], [], []
        msim, _ = prepare(parse_args([*COMMON, "-panels", str(work / "j16m.json")]))
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(ours_cmd, cwd=work, env=env, check=True, capture_output=True)
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            msim.render(threads=args.threads)  # type: ignore[union-attr]
            render_t.append(time.perf_counter() - t)
            if ref_bin:
                total = 0.0
                for k, p in enumerate(panels):
                    cmd = [ref_bin, *COMMON, *p.reference_args(), "-floatfile", f"ref{k:02d}.bin", "-intfile", f"ref{k:02d}.img"]
                    t = time.perf_counter()
                    subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
                    total += time.perf_counter() - t
                ref_t.append(total)
        ours = np.fromfile(work / "ours.bin", dtype="<f4")
        agree = "n/a"
        if ref_bin:
            ref = np.concatenate([np.fromfile(work / f"ref{k:02d}.bin", dtype="<f4") for k in range(len(panels))])
            tol = 1e-5 * np.abs(ref.astype(np.float64)) + 1e-7 * float(ref.max())
            agree = "yes" if ours.size == ref.size and bool((np.abs(ours - ref.astype(np.float64)) <= tol).all()) else "NO"
        med = statistics.median
        print(f"| panels | pixels | reference, 32 runs (s) | ours, whole command (s) | render only (s) | speed-up | agree |")
        print("|---|---|---|---|---|---|---|")
        ref_s = f"{med(ref_t):.2f}" if ref_t else "n/a"
        speed = f"{med(ref_t) / med(ours_t):.1f}x" if ref_t else "n/a"
        print(f"| {len(panels)} x 1030x514 | {n_pixels} | {ref_s} | {med(ours_t):.2f} | {med(render_t):.2f} | {speed} | {agree} |")
        print(f"\n{args.threads} threads, median of {args.repeat}; {os.uname().machine}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
