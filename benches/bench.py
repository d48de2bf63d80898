"""Benchmarks B1-B3 against the reference program, on the same machine, in the same session.

    python benches/bench.py [--threads 2] [--repeat 5] [--write-readme]

For each benchmark it alternates runs of the reference (when NANOBRAGG_C_BIN names it; run with
OMP_NUM_THREADS = threads) and of ours (RAYON_NUM_THREADS = threads), and reports the median
wall time, pixel-steps per second, peak memory (RSS) of a separate process of each, the speed
ratio, the instruction-set path, and whether the two float images agree under the golden
corpus's rule. "ours" is the whole `nanobragg` command (parse, render, write the same files as
the reference) run in a warm interpreter; "render" is `Simulator.render` alone. Python's own
start-up (about 0.1 s) is not counted; it is in the peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT.parent / "shared" / "golden" / "inputs"
BENCHES = {
    "B1": "-cell 100 100 100 90 90 90 -default_F 100 -N 10 -lambda 1.0 -distance 100 -detpixels 1024 -pixel 0.1 -nonoise",
    "B2": "-mat inputs/tric.mat -hkl inputs/tric.hkl -lambda 1.1 -N 8 -distance 90 -detpixels 512 -pixel 0.1 "
    "-mosaic 0.3 -mosaic_dom 10 -mosaic_seed 4 -phi 0 -osc 0.5 -phisteps 5 -oversample 2 -nonoise",
    "B3": "-mat inputs/mono.mat -hkl inputs/sparse.hkl -default_F 0 -nonoise -nointerpolate -oversample 1 -exposure 1 "
    "-flux 1e+18 -beamsize 1.0 -spindle_axis -1 0 0 -Xbeam 217.742295 -Ybeam 213.90708 -distance 231.27466 "
    "-lambda 0.9 -pixel 0.172 -detpixels_x 2463 -detpixels_y 2527 -odet_vector -8.8e-05 0.004914 -0.999988 "
    "-sdet_vector -0.005998 -0.99997 -0.004913 -fdet_vector 0.999982 -0.005998 -0.000118 "
    "-beam_vector 0.00051387949 0.0 -0.99999986 -Na 16 -Nb 17 -Nc 19 -osc 0.1 -phi 0 -phisteps 10",
}
OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-pgmfile", "image.pgm", "-noprogress"]


# Forks the command from a small, freshly started interpreter and reports the command's own
# peak RSS: a child forked straight from this (large) process would count this process's pages.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"PEAK_RSS_KB {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mb(cmd: list[str], cwd: pathlib.Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of `cmd` as its own process."""
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *cmd], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, check=False,
    )
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr}")
    kb = next(int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return wall, kb / 1024.0


def agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[bool, int]:
    tol = 1e-5 * np.abs(ref.astype(np.float64)) + 1e-7 * float(ref.max())
    bad = int((np.abs(ours.astype(np.float64) - ref) > tol).sum())
    return bad == 0, bad


def run(threads: int, repeat: int) -> list[dict[str, object]]:
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    from nanobragg_rs import Simulator, config_from_args  # after RAYON_NUM_THREADS is set
    from nanobragg_rs.cli import main as cli_main

    c_bin = os.environ.get("NANOBRAGG_C_BIN")
    rows = []
    for name, line in BENCHES.items():
        args = line.split()
        work = pathlib.Path(tempfile.mkdtemp(prefix=f"nb_{name}_"))
        (work / "inputs").symlink_to(INPUTS)
        ours_dir, ref_dir = work / "ours", work / "ref"
        ours_dir.mkdir()
        ref_dir.mkdir()
        (ours_dir / "inputs").symlink_to(INPUTS)
        (ref_dir / "inputs").symlink_to(INPUTS)
        cwd = os.getcwd()
        os.chdir(ours_dir)
        try:
            sim = Simulator(config_from_args(args))
        finally:
            os.chdir(cwd)
        s = sim.setup
        roi = sim.panel.roi
        pixels = (roi[1] - roi[0] + 1) * (roi[3] - roi[2] + 1)
        pixel_steps = pixels * s.sampling.steps * s.sampling.thickness.layers
        c_env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        t_ours, t_render, t_ref = [], [], []
        for _ in range(repeat):
            if c_bin:
                t = time.perf_counter()
                subprocess.run([c_bin, *args, *OUT], cwd=ref_dir, env=c_env, check=True, stdout=subprocess.DEVNULL)
                t_ref.append(time.perf_counter() - t)
            os.chdir(ours_dir)
            try:
                t = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    assert cli_main([*args, *OUT, "-threads", str(threads)]) == 0
                t_ours.append(time.perf_counter() - t)
            finally:
                os.chdir(cwd)
            t = time.perf_counter()
            image = sim.render(threads=threads)
            t_render.append(time.perf_counter() - t)
        _, mem_ours = peak_rss_mb(
            [sys.executable, "-m", "nanobragg_rs", *args, *OUT, "-threads", str(threads)], ours_dir, dict(os.environ)
        )
        row: dict[str, object] = {
            "name": name,
            "isa": sim.isa,
            "pixel_steps": pixel_steps,
            "ours_s": statistics.median(t_ours),
            "render_s": statistics.median(t_render),
            "ours_mb": mem_ours,
        }
        ours_img = np.fromfile(ours_dir / "float.bin", dtype="<f4")
        assert np.array_equal(ours_img, image.reshape(-1)), "CLI and API images differ"
        if c_bin:
            _, mem_ref = peak_rss_mb([c_bin, *args, *OUT], ref_dir, c_env)
            ref_img = np.fromfile(ref_dir / "float.bin", dtype="<f4")
            # The reference's phi carry-over depends on its thread count; its single-threaded
            # image is the deterministic one the corpus uses.
            subprocess.run(
                [c_bin, *args, "-floatfile", "serial.bin", "-intfile", "s.img", "-pgmfile", "s.pgm", "-noprogress"],
                cwd=ref_dir, env=dict(os.environ, OMP_NUM_THREADS="1"), check=True, stdout=subprocess.DEVNULL,
            )
            serial = np.fromfile(ref_dir / "serial.bin", dtype="<f4")
            row.update(
                ref_s=statistics.median(t_ref),
                ref_mb=mem_ref,
                ratio=statistics.median(t_ref) / statistics.median(t_ours),
                agree=agreement(ours_img, serial),
                agree_threads=agreement(ours_img, ref_img),
            )
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


HEADER = (
    "| bench | pixel-steps | reference (s) | ours (s) | render only (s) | speed-up | ours Mpx-steps/s | "
    "peak RSS ref / ours (MB) | ISA | agree (1-thread ref / same-threads ref) |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(r: dict[str, object]) -> str:
    ref = f"{r['ref_s']:.3f}" if "ref_s" in r else "-"
    ratio = f"{r['ratio']:.1f}x" if "ratio" in r else "-"
    mem = f"{r['ref_mb']:.0f} / {r['ours_mb']:.0f}" if "ref_mb" in r else f"- / {r['ours_mb']:.0f}"
    agree = "-"
    if "agree" in r:
        a, t = r["agree"], r["agree_threads"]
        agree = f"{'yes' if a[0] else f'no ({a[1]} px)'} / {'yes' if t[0] else f'no ({t[1]} px)'}"  # type: ignore[index]
    mps = float(r["pixel_steps"]) / float(r["ours_s"]) / 1e6  # type: ignore[arg-type]
    return (
        f"| {r['name']} | {r['pixel_steps']:.3g} | {ref} | {r['ours_s']:.3f} | {r['render_s']:.3f} | {ratio} | "
        f"{mps:.0f} | {mem} | {r['isa']} | {agree} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write-readme", action="store_true", help="record the table in benches/README.md")
    a = ap.parse_args()
    if not INPUTS.is_dir():
        print(f"bench: the golden inputs are not at {INPUTS}", file=sys.stderr)
        return 2
    print(HEADER)
    rows = run(a.threads, a.repeat)
    if a.write_readme:
        readme = ROOT / "benches" / "README.md"
        text = readme.read_text()
        start, end = "<!-- bench-table -->", "<!-- /bench-table -->"
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
        table = (
            f"{start}\n{HEADER}\n" + "\n".join(format_row(r) for r in rows)
            + f"\n\n{a.threads} threads, median of {a.repeat}, {cpu}, {os.cpu_count()} cores, "
            f"{time.strftime('%Y-%m-%d')}.\n{end}"
        )
        readme.write_text(text[: text.index(start)] + table + text[text.index(end) + len(end) :])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
