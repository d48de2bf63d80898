"""Running a plan: the per-chunk task, a local engine, a Dask engine, and ``render_dataset``.

The unit of work is a chunk of consecutive frames (``plan.chunk``). ``render_chunk`` renders
the frames of one chunk that are missing and writes them (one NXmx data file, or one SMV/CBF
file per frame), each file atomically. It takes only plain data, so Dask ships it cheaply and
it gives the same files on any worker: frame i depends on the plan and i alone.

The driver (``render_dataset``) writes ``NAME_plan.json`` first, submits the chunks that are
not complete, and, once every frame is on disk, writes the labels and the NXmx master file.
Running it again after an interruption renders only what is missing.
"""

from __future__ import annotations

import datetime
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from .ledger import Ledger, dataset_lock, file_record, ledger_file
from .plan import Plan, PlanError
from .writers import (
    counts,
    data_file,
    existing_files,
    file_of_frame,
    label_rows,
    labels_file,
    master_file,
    missing_frames,
    nxmx_data_file,
    output_files,
    plan_file,
    read_plan_file,
    remove_temporaries,
    write_cbf_frame,
    write_labels,
    write_master,
    write_plan_file,
    write_smv_frame,
)

#: Attempts after the first when a Dask task fails (a lost worker, a transient error).
RETRIES = 2


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


# --- the task ---------------------------------------------------------------------------------


def _task_threads(host_slots: dict[str, int] | None) -> int:
    """Render threads for a task on a Dask worker: this host's cores shared among every task
    slot (worker threads) the cluster has on it, so Dask and the Rust pool do not
    oversubscribe the cores."""
    cores = available_cores()
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return cores
    from urllib.parse import urlparse

    host = urlparse(worker.address).hostname or ""
    slots = (host_slots or {}).get(host) or worker.state.nthreads
    return max(1, cores // max(1, slots))


def render_chunk(
    plan: dict[str, Any] | Plan,
    out: str,
    chunk: int,
    threads: int | None = None,
    host_slots: dict[str, int] | None = None,
    on_frame: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Render and write the missing frames of chunk ``chunk`` of ``plan`` to data set ``out``.

    ``threads`` is the number of render threads (default: on a Dask worker, the host's cores
    shared among its task slots; elsewhere every core). Returns {"chunk", "rendered": [frame
    indices], "files": {file name: (size, SHA-256)} of the files written, "seconds"}. Safe to
    run twice, or on two workers at once: both write the same bytes and a file is only ever
    replaced whole.
    """
    from ..simulate import Simulator

    p = plan if isinstance(plan, Plan) else Plan.from_dict(plan)
    t0 = time.perf_counter()
    todo = missing_frames(p, out, chunk)
    if threads is None:
        threads = _task_threads(host_slots)

    backgrounds = p.background_objects()
    response = p.frame_response()

    def render(index: int) -> tuple[Simulator, Any, Any]:
        sim = Simulator(p.frame_config(index))
        image = sim.render(threads=threads, backgrounds=backgrounds)
        seed = p.frame_settings(index)["noise_seed"]
        if response is not None:
            # noisify's counts of this frame (its ideal image without noise; the seed is unused then).
            values = response[1].apply(image, seed=seed if p.noise else 1)
        else:
            values = sim.noise(image, seed).photons if p.noise else image
        return sim, image, values

    written: dict[str, tuple[int, str]] = {}
    if todo and p.format == "nxmx":
        frames = p.chunk_frames(chunk)
        shape = (int(p.base["shape"][0]), int(p.base["shape"][1]))
        path = data_file(out, chunk)
        with nxmx_data_file(path, p, frames, shape) as put:
            for k, index in enumerate(frames):
                _, image, values = render(index)
                put(k, counts(values, p.saturation), image)
                if on_frame is not None:
                    on_frame(index)
        written[os.path.basename(path)] = file_record(path)
    else:
        for index in todo:
            sim, _, values = render(index)
            path = file_of_frame(p, out, index)
            if p.format == "smv":
                write_smv_frame(path, p, sim, values, response[0] if response is not None else None)
            else:
                write_cbf_frame(path, p, sim, values)
            written[os.path.basename(path)] = file_record(path)
            if on_frame is not None:
                on_frame(index)
    return {"chunk": chunk, "rendered": todo, "files": written, "seconds": time.perf_counter() - t0}


# --- progress ------------------------------------------------------------------------------------


class FrameProgress:
    """A progress bar over frames on stderr."""

    def __init__(self, total: int, done: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = done
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.last = 0.0
        self.draw(force=True)

    def advance(self, frames: int = 1) -> None:
        self.done += frames
        self.draw()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.2 and self.done < self.total):
            return
        self.last = now
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(40 * frac)
        self.stream.write(f"\rframes [{bar:<40}] {self.done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


# --- engines -------------------------------------------------------------------------------------


def run_local(
    plan: Plan, out: str, chunks: Iterable[int], threads: int | None, progress: FrameProgress, ledger: Ledger
) -> int:
    """Render the chunks one after another in this process (every core per render); returns
    the number of frames rendered."""
    d = plan.to_dict()
    rendered = 0
    for c in chunks:
        result = render_chunk(d, out, c, threads=threads or available_cores(), on_frame=lambda _: progress.advance())
        ledger.record(result["files"])
        rendered += len(result["rendered"])
    return rendered


def _host_slots(client: Any) -> dict[str, int]:
    from urllib.parse import urlparse

    try:
        scheduler = client.scheduler_info(n_workers=-1)  # every worker, not only the first few
    except TypeError:  # older distributed lists them all without being asked
        scheduler = client.scheduler_info()
    slots: dict[str, int] = {}
    for address, info in scheduler["workers"].items():
        host = urlparse(address).hostname or ""
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
    return slots


def run_dask(
    plan: Plan, out: str, chunks: Iterable[int], client: Any, threads: int | None, progress: FrameProgress, ledger: Ledger
) -> int:
    """Submit one task per chunk to ``client`` (retried on failure), a bounded number at a
    time (so a billion frames need no more memory than a few), and wait for them all; returns
    the number of frames rendered."""
    from distributed import as_completed

    d = plan.to_dict()
    slots = _host_slots(client)
    window = max(4, 2 * sum(slots.values()))
    todo = iter(chunks)

    def submit(c: int) -> Any:
        return client.submit(
            render_chunk, d, out, c, threads=threads, host_slots=slots,
            key=f"nanobragg-chunk-{plan.plan_id}-{c}", retries=RETRIES, pure=False,
        )  # fmt: skip

    running = [submit(c) for c in itertools.islice(todo, window)]
    waiting = as_completed(running)
    rendered = 0
    try:
        for future in waiting:
            result = future.result()  # raises the task's error once its retries are spent
            running.remove(future)
            future.release()
            ledger.record(result["files"])
            progress.advance(len(result["rendered"]))
            rendered += len(result["rendered"])
            for c in itertools.islice(todo, 1):
                running.append(submit(c))
                waiting.add(running[-1])
    finally:
        for future in running:
            future.release()
    return rendered


def local_cluster(workers: int | None = None) -> tuple[Any, Any]:
    """A LocalCluster sized to this machine and a client of it: ``workers`` processes (default
    one per core) of one thread each; renders then share the cores among the workers."""
    import logging

    from distributed import Client, LocalCluster

    cores = available_cores()
    n = workers or cores
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        # Workers losing their scheduler at Ctrl-C log errors; only what is worse is shown.
        silence_logs=logging.CRITICAL,
        # The workers leave Ctrl-C to this driver (see worker_setup.py).
        preload=["nanobragg_rs.dataset.worker_setup"],
    )
    return cluster, Client(cluster)


# --- the driver ----------------------------------------------------------------------------------


@dataclass
class DatasetResult:
    """What a run did: every file of the data set, frames rendered now and found done."""

    files: list[str]
    rendered: int
    already_done: int
    engine: str
    seconds: float
    messages: list[str] = field(default_factory=list)


def _check_or_write_plan(plan: Plan, out: str, overwrite: bool) -> datetime.datetime:
    """Write ``NAME_plan.json``, or check that the one there is this plan; returns the time the
    data set was first planned."""
    path = plan_file(out)
    ours = existing_files(out)
    if os.path.exists(path):
        try:
            previous, created = read_plan_file(path)
        except (OSError, ValueError, KeyError) as e:
            if not overwrite:
                raise PlanError(f"{path}: unreadable ({e}); use -overwrite to start again") from None
            previous, created = {}, datetime.datetime.now(datetime.timezone.utc)
        if previous == plan.to_dict():
            return created
        if not overwrite:
            raise PlanError(
                f"{path} describes another data set (different flags or inputs); "
                "use another -out, or -overwrite to replace it"
            )
    elif ours and not overwrite:
        raise PlanError(
            f"{ours[0]} exists but {os.path.basename(path)} does not: "
            "use another -out, or -overwrite to replace the files"
        )
    for stale in ours:
        os.unlink(stale)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    write_plan_file(path, plan, created)
    return created


def render_dataset(
    plan: Plan | dict[str, Any],
    out: str | os.PathLike[str],
    client: Any = None,
    *,
    engine: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    log: Callable[[str], object] | None = None,
) -> DatasetResult:
    """Render every frame of ``plan`` to files named ``out_*`` and write the master/labels.

    ``client``: None starts a Dask LocalCluster sized to the machine (``workers`` processes,
    default one per core, renders sharing the cores); a ``distributed.Client`` or a scheduler
    address uses that cluster. ``engine="local"`` renders in this process without Dask.
    ``threads`` fixes the render threads per frame. Frames already on disk (from an
    interrupted run of the same plan) are not rendered again; ``overwrite`` replaces a
    different data set of the same name.
    """
    p = plan if isinstance(plan, Plan) else Plan.from_dict(plan)
    name = os.fspath(out)
    if not os.path.basename(name):
        raise PlanError(f"out: {name!r} names no data set; give a file-name prefix such as 'run1' or 'data/run1'")
    out = os.path.abspath(name)
    say = log or (lambda _msg: None)
    engine = engine or "dask"
    if engine not in ("local", "dask"):
        raise PlanError(f"engine: local or dask, not {engine!r}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with dataset_lock(out):
        return _render_locked(p, out, client, engine, workers, threads, progress, overwrite, say)


def _verified_files(plan: Plan, out: str, ledger: Ledger, say: Callable[[str], object]) -> set[str]:
    """Base names of the frame files on disk that the ledger vouches for; files damaged or
    cut short since they were written (or never noted) are removed, to be rendered again."""
    folder = os.path.dirname(out)
    whole: set[str] = set()
    for path in existing_files(out):
        entry = os.path.basename(path)
        if _frame_file_number(plan, out, entry) is None:
            continue
        problem = ledger.check(path)
        if problem is None:
            whole.add(entry)
            continue
        if entry in ledger.records:
            say(f"{entry}: damaged ({problem}); rendering it again")
        os.unlink(os.path.join(folder, entry))
    return whole


def _frame_file_number(plan: Plan, out: str, entry: str) -> int | None:
    """The number in a frame file's name (a data file's for NXmx), or None if it is not one."""
    suffix = ".h5" if plan.format == "nxmx" else (".img" if plan.format == "smv" else ".cbf")
    stem = os.path.basename(out) + ("_data_" if plan.format == "nxmx" else "_")
    digits = entry[len(stem) : -len(suffix)]
    return int(digits) if entry.startswith(stem) and entry.endswith(suffix) and digits.isdigit() else None


def _chunk_files(plan: Plan, out: str, chunk: int) -> Iterator[str]:
    if plan.format == "nxmx":
        yield os.path.basename(data_file(out, chunk))
    else:
        for i in plan.chunk_frames(chunk):
            yield os.path.basename(file_of_frame(plan, out, i))


def _frames_done(plan: Plan, out: str, whole: set[str]) -> int:
    numbers = (_frame_file_number(plan, out, n) for n in whole)
    if plan.format == "nxmx":
        return sum(len(plan.chunk_frames(k - 1)) for k in numbers if k is not None and 1 <= k <= plan.n_chunks)
    return sum(1 for k in numbers if k is not None and 1 <= k <= plan.frames)


def _render_locked(
    p: Plan, out: str, client: Any, engine: str, workers: int | None, threads: int | None,
    progress: bool, overwrite: bool, say: Callable[[str], object],
) -> DatasetResult:  # fmt: skip
    t0 = time.perf_counter()
    created = _check_or_write_plan(p, out, overwrite)
    remove_temporaries(out)
    ledger = Ledger(out)
    whole = _verified_files(p, out, ledger, say)
    done = _frames_done(p, out, whole)
    pending = p.frames - done
    if done:
        say(f"{done} of {p.frames} frames already written; rendering the other {pending}")
    # Chunks to render, found as they are needed: a billion frames start at once.
    chunks = (c for c in range(p.n_chunks) if not all(n in whole for n in _chunk_files(p, out, c)))

    bar = FrameProgress(p.frames, done, enabled=progress and pending > 0)
    rendered = 0
    try:
        if pending and engine == "local":
            rendered = run_local(p, out, chunks, threads, bar, ledger)
        elif pending:
            own = None
            if client is None:
                own, client = local_cluster(workers)
            elif isinstance(client, str):
                from distributed import Client

                client = Client(client)
                own = client  # a client we opened, to close
            try:
                rendered = run_dask(p, out, chunks, client, threads, bar, ledger)
            finally:
                if own is not None:
                    client.close()
                    if own is not client:
                        own.close()
    finally:
        bar.close()
        remove_temporaries(out)

    missing = next((c for c in range(p.n_chunks) if not all(n in ledger.records for n in _chunk_files(p, out, c))), None)
    if missing is not None:
        raise RuntimeError(f"frames were not written (first: chunk {missing + 1})")
    ledger.rewrite(n for c in range(p.n_chunks) for n in _chunk_files(p, out, c))
    write_labels(labels_file(out, p.labels), p.labels, label_rows(p, out))
    if p.format == "nxmx":
        from ..simulate import Simulator

        geometry = Simulator(_geometry_config(p))
        write_master(master_file(out), p, out, geometry, created)
    return DatasetResult(output_files(p, out), rendered, done, engine, time.perf_counter() - t0)


def _geometry_config(plan: Plan) -> Any:
    """Frame 0's configuration without structure factors: enough for the geometry."""
    cfg = plan.frame_config(0, structure_factors=False)
    if cfg.crystal.default_F == 0.0:
        cfg.crystal.default_F = 1.0
    return cfg
