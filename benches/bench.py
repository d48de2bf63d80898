"""Whole-command benchmarks against the reference program, on the same machine, in one session.

    python benches/bench.py [--threads 2] [--repeat 7] [--only B1,S64] [--write-readme]

Each case runs the `nanobragg` command and (when NANOBRAGG_C_BIN names it) nanoBragg.c as
separate processes, alternating (reference, ours, reference, ours, ...), both at the same
thread count (OMP_NUM_THREADS and RAYON_NUM_THREADS), with the same flags and output files,
stdout to /dev/null: what a shell sees. Each process is started from a small launcher that
times it from fork to exit and reads its peak RSS from wait4; the medians are reported.
Beside them: `Simulator.render` alone, in this interpreter (median of the same number of
runs), the CLI's import time (`python -X importtime -c "import nanobragg_rs.cli"`), Python's
own start-up, and whether the float images agree under the golden corpus's rule.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
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
    "L2048": "-mat inputs/cubic50.mat -hkl inputs/cubic50.hkl -N 100 -lambda 1.0 -distance 100 -detpixels 2048 "
    "-pixel 0.1 -oversample 4 -nonoise",
    # Default flags otherwise: automatic oversampling, noise image on (a fixed seed).
    "S64": "-cell 100 100 100 90 90 90 -default_F 100 -detpixels 64 -seed 1",
}
#: Output names, put before a case's flags so that its -nonoise still wins.
OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-pgmfile", "image.pgm", "-noisefile", "noise.img", "-noprogress"]

# Runs the command as its own process from a small, freshly started interpreter: wall time
# from fork to exit, and the command's own peak RSS (a child forked straight from this large
# process would count this process's pages).
_LAUNCHER = """
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t
sys.stderr.write(f"BENCH {wall} {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(cmd: list[str], cwd: pathlib.Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of `cmd` as its own process."""
    p = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *cmd], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr}")
    line = next(line for line in p.stderr.splitlines() if line.startswith("BENCH "))
    _, wall, kb = line.split()
    return float(wall), int(kb) / 1024.0


def agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[bool, int]:
    tol = 1e-5 * np.abs(ref.astype(np.float64)) + 1e-7 * float(ref.max())
    bad = int((np.abs(ours.astype(np.float64) - ref) > tol).sum())
    return bad == 0, bad


def nanobragg_command(given: str | None) -> tuple[str, str]:
    """The `nanobragg` console script to time (``--command``, else the one beside this
    interpreter or on PATH) and the interpreter its first line names."""
    here = pathlib.Path(sys.executable).parent / "nanobragg"
    found = given or (str(here) if here.is_file() else shutil.which("nanobragg"))
    if not found:
        raise SystemExit("bench: no `nanobragg` command found (pip install the package first)")
    first = pathlib.Path(found).read_text().splitlines()[0]
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    # Installs compile the package's bytecode; an editable install (or PYTHONDONTWRITEBYTECODE)
    # may not have, and compiling the sources at every start would be timed.
    code = "import compileall, nanobragg_rs, os; compileall.compile_dir(os.path.dirname(nanobragg_rs.__file__), quiet=1)"
    subprocess.run([python, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return found, python


def import_times(python: str, repeat: int) -> dict[str, float]:
    """Medians (s) of: `python -c pass` as a process; the CLI import's cumulative time from
    -X importtime; `python -c "import nanobragg_rs.cli"` as a process; numpy's import."""

    def wall(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([python, "-c", code], check=True)
        return time.perf_counter() - t

    def cumulative(module: str, interpreter: str = python) -> float:
        p = subprocess.run([interpreter, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True)
        for line in p.stderr.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
            if m and m.group(2) == module:
                return int(m.group(1)) / 1e6
        return float("nan")

    cli = "import nanobragg_rs.cli, sys; assert 'numpy' not in sys.modules, 'numpy was imported'"
    # numpy's import for comparison, in this interpreter (the timed one need not have numpy).
    runs = [(wall("pass"), cumulative("nanobragg_rs.cli"), wall(cli), cumulative("numpy", sys.executable)) for _ in range(repeat)]
    keys = ("python_pass_s", "cli_import_s", "python_import_cli_s", "numpy_import_s")
    return {k: statistics.median(r[i] for r in runs) for i, k in enumerate(keys)}


def run_case(name: str, line: str, threads: int, repeat: int, c_bin: str | None, ours_cmd: str) -> dict[str, object]:
    from nanobragg_rs import Simulator, config_from_args

    args = line.split()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"nb_{name}_"))
    dirs = {k: work / k for k in ("ours", "ref")}
    for d in dirs.values():
        d.mkdir()
        (d / "inputs").symlink_to(INPUTS)
    cwd = os.getcwd()
    os.chdir(dirs["ours"])
    try:
        sim = Simulator(config_from_args(args))
    finally:
        os.chdir(cwd)
    s = sim.setup
    roi = sim.panel.roi
    pixels = (roi[1] - roi[0] + 1) * (roi[3] - roi[2] + 1)
    ours_env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    ref_env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    ours, ref, render = [], [], []
    for _ in range(repeat):
        if c_bin:
            ref.append(run_process([c_bin, *OUT, *args], dirs["ref"], ref_env))
        ours.append(run_process([ours_cmd, *OUT, *args], dirs["ours"], ours_env))
        t = time.perf_counter()
        image = sim.render(threads=threads)
        render.append(time.perf_counter() - t)
    row: dict[str, object] = {
        "name": name,
        "isa": sim.isa,
        "pixel_steps": pixels * s.sampling.steps * s.sampling.thickness.layers,
        "ours_s": statistics.median(w for w, _ in ours),
        "render_s": statistics.median(render),
        "ours_mb": max(m for _, m in ours),
    }
    ours_img = np.fromfile(dirs["ours"] / "float.bin", dtype="<f4")
    assert np.array_equal(ours_img, image.reshape(-1)), "the command's and the API's images differ"
    if c_bin:
        # The reference's phi carry-over depends on its thread count; its single-threaded
        # image is the deterministic one the corpus uses.
        serial = dirs["ref"] / "serial"
        serial.mkdir()
        (serial / "inputs").symlink_to(INPUTS)
        subprocess.run(
            [c_bin, *OUT, *args], cwd=serial, env=dict(os.environ, OMP_NUM_THREADS="1"), check=True, stdout=subprocess.DEVNULL
        )
        row.update(
            ref_s=statistics.median(w for w, _ in ref),
            ref_mb=max(m for _, m in ref),
            agree=agreement(ours_img, np.fromfile(serial / "float.bin", dtype="<f4")),
            agree_threads=agreement(ours_img, np.fromfile(dirs["ref"] / "float.bin", dtype="<f4")),
        )
        row["ratio"] = float(row["ref_s"]) / float(row["ours_s"])  # type: ignore[arg-type]
        row["render_ratio"] = float(row["ref_s"]) / float(row["render_s"])  # type: ignore[arg-type]
    shutil.rmtree(work, ignore_errors=True)
    return row


HEADER = (
    "| case | pixel-steps | nanoBragg.c (s) | nanobragg, whole command (s) | speed-up | render only (s) | "
    "speed-up, render only | peak RSS ref / ours (MB) | ISA | agree (1-thread ref / same-threads ref) |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(r: dict[str, object]) -> str:
    ref = f"{r['ref_s']:.3f}" if "ref_s" in r else "-"
    ratio = f"{r['ratio']:.1f}x" if "ratio" in r else "-"
    rratio = f"{r['render_ratio']:.1f}x" if "render_ratio" in r else "-"
    mem = f"{r['ref_mb']:.0f} / {r['ours_mb']:.0f}" if "ref_mb" in r else f"- / {r['ours_mb']:.0f}"
    agree = "-"
    if "agree" in r:
        a, t = r["agree"], r["agree_threads"]
        agree = f"{'yes' if a[0] else f'no ({a[1]} px)'} / {'yes' if t[0] else f'no ({t[1]} px)'}"  # type: ignore[index]
    return (
        f"| {r['name']} | {r['pixel_steps']:.3g} | {ref} | {r['ours_s']:.3f} | {ratio} | {r['render_s']:.4f} | {rratio} | "
        f"{mem} | {r['isa']} | {agree} |"
    )


def format_imports(t: dict[str, float]) -> str:
    return (
        f"Start-up: `python -c pass` {1000 * t['python_pass_s']:.1f} ms; "
        f"`python -c \"import nanobragg_rs.cli\"` {1000 * t['python_import_cli_s']:.1f} ms as a process, of which the "
        f"import itself (`-X importtime`, cumulative) {1000 * t['cli_import_s']:.1f} ms, numpy not imported "
        f"(numpy's import alone: {1000 * t['numpy_import_s']:.1f} ms)."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", help="comma-separated cases (default: all)")
    ap.add_argument("--command", help="the `nanobragg` script to time, e.g. from a fresh venv (default: this one's)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--write-readme", action="store_true", help="record the table in benches/README.md")
    a = ap.parse_args()
    if not INPUTS.is_dir():
        print(f"bench: the golden inputs are not at {INPUTS}", file=sys.stderr)
        return 2
    names = a.only.split(",") if a.only else list(BENCHES)
    c_bin = os.environ.get("NANOBRAGG_C_BIN")
    ours_cmd, python = nanobragg_command(a.command)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    imports = import_times(python, a.repeat)
    print(format_imports(imports), flush=True)
    print(HEADER, flush=True)
    rows = []
    for name in names:
        rows.append(run_case(name, BENCHES[name], a.threads, a.repeat, c_bin, ours_cmd))
        print(format_row(rows[-1]), flush=True)
    load1 = os.getloadavg()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    note = (
        f"{a.threads} threads each, median of {a.repeat} alternating runs, {cpu}, {os.cpu_count()} cores, "
        f"{started}, load average {load0:.1f} at the start and {load1:.1f} at the end."
    )
    print(note)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"imports": imports, "rows": rows, "note": note}, indent=1))
    if a.write_readme:
        readme = ROOT / "benches" / "README.md"
        text = readme.read_text()
        start, end = "<!-- bench-table -->", "<!-- /bench-table -->"
        table = f"{start}\n{HEADER}\n" + "\n".join(format_row(r) for r in rows) + f"\n\n{note}\n\n{format_imports(imports)}\n{end}"
        readme.write_text(text[: text.index(start)] + table + text[text.index(end) + len(end) :])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
