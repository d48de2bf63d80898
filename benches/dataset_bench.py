"""Data-set throughput: frames per second for a 200-frame rotation series, local and on Dask.

    python benches/dataset_bench.py [--frames 200] [--repeat 3] [--write-readme]

The series is small on purpose (128x128 pixels, about a millisecond of rendering per frame), so
what is measured is mostly the per-frame cost around the render: resolving the frame's
configuration, noise, conversion, compression and writing, and for Dask the scheduling of
tasks. Rows:

- render only: ``Simulator(plan.frame_config(i)).render()`` + noise in a loop, no files;
- local: ``render_dataset(engine="local")``, every core per render;
- LocalCluster 2x1: two single-threaded worker processes, one render thread each (the
  default on two cores), cluster already running; its start-up time is reported apart;
- LocalCluster 1x1: one worker with two render threads, i.e. the local engine's resources
  behind Dask: (its time - local time) / frames is Dask's per-frame overhead;
- no-op tasks: the round trip of an empty task on the 2x1 cluster, per task.

After one warm-up run of each, the rows are run in turn ``--repeat`` times (interleaved, so
that load from other work on the machine hits them alike), each into a fresh folder; the table
gives medians.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERIES = (
    "-cell 50 50 50 90 90 90 -default_F 100 -N 5 -detpixels 128 -pixel 0.2 -distance 80 "
    "-oversample 1 -phi 0 -osc 0.1 -phisteps 2"
)
CHUNK = 10


def _noop(x: int) -> int:
    return x


def timed(fn: Callable[[pathlib.Path], object]) -> float:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="nb_ds_bench_"))
    try:
        t = time.perf_counter()
        fn(folder)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(frames: int, repeat: int) -> list[tuple[str, str, str]]:
    from distributed import Client, LocalCluster

    from nanobragg_rs import Simulator, config_from_args
    from nanobragg_rs.dataset import make_plan, render_dataset

    cores = len(os.sched_getaffinity(0))
    cfg = config_from_args(SERIES.split())
    plans = {fmt: make_plan(cfg, frames, chunk=CHUNK, format=fmt) for fmt in ("nxmx", "smv", "cbf")}
    plan = plans["nxmx"]

    def render_only(_: pathlib.Path) -> None:
        for i in range(frames):
            sim = Simulator(plan.frame_config(i))
            image = sim.render(threads=cores)
            sim.noise(image, plan.frame_settings(i)["noise_seed"])

    def start_cluster(workers: int) -> tuple[float, Any, Any]:
        t = time.perf_counter()
        lc = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        )
        client = Client(lc)
        client.wait_for_workers(workers)
        return time.perf_counter() - t, lc, client

    start2, lc2, client2 = start_cluster(2)
    _, lc1, client1 = start_cluster(1)
    per_render = max(1, cores // 2)
    runs: dict[str, Callable[[pathlib.Path], object]] = {"render + noise only, no files": render_only}
    for fmt, p in plans.items():
        runs[f"local engine, {fmt}"] = lambda d, p=p: render_dataset(p, d / "s", engine="local", progress=False)
    runs[f"LocalCluster 2x1 workers, {per_render} render thread each, nxmx"] = lambda d: render_dataset(
        plan, d / "s", client2, threads=per_render, progress=False
    )
    runs[f"LocalCluster 1x1 worker, {cores} render threads, nxmx"] = lambda d: render_dataset(
        plan, d / "s", client1, threads=cores, progress=False
    )
    times: dict[str, list[float]] = {name: [] for name in runs}
    noop: list[float] = []
    try:
        for fn in runs.values():  # warm-up: imports on the workers, thread pools
            timed(fn)
        # Interleaved, so that load from other work on the machine hits every row alike.
        for _ in range(repeat):
            for name, fn in runs.items():
                times[name].append(timed(fn))
            t = time.perf_counter()
            client2.gather(client2.map(_noop, range(200), pure=False))
            noop.append((time.perf_counter() - t) / 200)
    finally:
        for client, lc in ((client1, lc1), (client2, lc2)):
            client.close()
            lc.close()
    med = {name: statistics.median(v) for name, v in times.items()}
    rows = [(name, f"{t:.2f}", f"{frames / t:.0f}") for name, t in med.items()]
    rows.append(("LocalCluster start-up (2 workers)", f"{start2:.2f}", ""))
    one = next(name for name in med if name.startswith("LocalCluster 1x1"))
    overhead = (med[one] - med["local engine, nxmx"]) / frames
    rows.append(("Dask overhead per frame: (1x1 cluster - local engine) / frames", f"{overhead * 1e3:.2f} ms", ""))
    rows.append(("no-op task round trip on the 2x1 cluster, per task", f"{statistics.median(noop) * 1e3:.2f} ms", ""))
    return rows


def table(rows: list[tuple[str, str, str]], frames: int, repeat: int) -> str:
    import platform

    lines = [
        f"{frames}-frame rotation series, 128x128 pixels, chunks of {CHUNK} frames; "
        f"{len(os.sched_getaffinity(0))} cores ({platform.processor() or platform.machine()}); "
        f"median of {repeat} runs; `python benches/dataset_bench.py --write-readme`.",
        "",
        "| run | seconds | frames/s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = ROOT / "benches" / "README.md"
    readme = path.read_text()
    start, end = "<!-- dataset-table -->", "<!-- /dataset-table -->"
    block = f"{start}\n{text}\n{end}"
    if start in readme:
        readme = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
    else:
        readme = readme.rstrip("\n") + f"\n\n## Data sets\n\n{block}\n"
    path.write_text(readme)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write-readme", action="store_true")
    a = ap.parse_args()
    rows = run(a.frames, a.repeat)
    text = table(rows, a.frames, a.repeat)
    print(text)
    if a.write_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
