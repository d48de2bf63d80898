"""Files of a data set: names, per-chunk and per-frame writers, label tables, the NXmx master.

Every file is written under a temporary name beside its final name and renamed when complete,
so a file at its final name is always whole; that is how a re-run knows what is done. Files
carry no wall-clock time except the master's start time, which is the time the data set was
first planned (from ``NAME_plan.json``), so a resumed run writes the same bytes as an
uninterrupted one.

Layout for ``-out NAME``::

    NAME_plan.json          the plan (written first; a re-run must match it)
    NAME_ledger.tsv         size and SHA-256 of each finished frame file (see ledger.py)
    NAME.lock               held while a driver runs (see ledger.py)
    NAME_data_000001.h5     nxmx: frames 1..chunk as /entry/data/data (n, s, f) uint32,
    NAME_data_000002.h5           bitshuffle/LZ4, and /entry/data/noiseless float32 if asked
    NAME_master.h5          nxmx: geometry, beam, scan, labels, links to the data (last)
    NAME_00001.img ...      smv: one file per frame
    NAME_00001.cbf ...      cbf: one file per frame (Pilatus-style miniCBF)
    NAME_labels.csv         every frame's labels (or NAME_labels.parquet), written last
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import atomic, images, smv
from .plan import LABEL_COLUMNS, Plan

if TYPE_CHECKING:
    from ..simulate import Simulator

# --- names ---------------------------------------------------------------------------------


def plan_file(out: str) -> str:
    return f"{out}_plan.json"


def master_file(out: str) -> str:
    return f"{out}_master.h5"


def data_file(out: str, chunk: int) -> str:
    """The NXmx data file of chunk ``chunk`` (0-based); numbered from 1."""
    return f"{out}_data_{chunk + 1:06d}.h5"


def frame_file(out: str, index: int, ext: str) -> str:
    """The SMV/CBF file of frame ``index`` (0-based); numbered from 1."""
    return f"{out}_{index + 1:05d}.{ext}"


def labels_file(out: str, kind: str) -> str:
    return f"{out}_labels.{kind}"


def file_of_frame(plan: Plan, out: str, index: int) -> str:
    """The file holding frame ``index``."""
    if plan.format == "nxmx":
        return data_file(out, index // plan.chunk)
    return frame_file(out, index, "img" if plan.format == "smv" else "cbf")


def output_files(plan: Plan, out: str) -> list[str]:
    """Every file a complete run writes, in a fixed order."""
    files = [plan_file(out), f"{out}_ledger.tsv"]
    if plan.format == "nxmx":
        files += [data_file(out, c) for c in range(plan.n_chunks)]
        files.append(master_file(out))
    else:
        files += [file_of_frame(plan, out, i) for i in range(plan.frames)]
    files.append(labels_file(out, plan.labels))
    return files


_OURS = re.compile(r"_(plan\.json|ledger\.tsv|master\.h5|data_\d{6,}\.h5|\d{5,}\.(img|cbf)|labels\.(csv|parquet))")


def _named(entry: str, name: str) -> bool:
    """Whether ``entry`` is a file name data set ``name`` writes."""
    return entry.startswith(name + "_") and bool(_OURS.fullmatch(entry[len(name) :]))


def existing_files(out: str) -> list[str]:
    """Files in ``out``'s folder named as data set ``out`` names its files."""
    folder, name = os.path.split(out)
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(folder or "."):
            if _named(entry, name):
                found.append(os.path.join(folder, entry))
    return sorted(found)


def _temporary_is_ours(entry: str, name: str) -> bool:
    """Whether ``entry`` is a temporary (see io/atomic.py) of a file of data set ``name``."""
    keep = atomic.temporary_of(entry)
    if keep is None:
        return False
    if _named(keep, name):
        return True
    # A name too long to keep whole was cut and marked "~HASH": compare what is left.
    cut = re.fullmatch(r"(.*)~[0-9a-f]{8}", keep)
    return cut is not None and (cut.group(1).startswith(name + "_") or (name + "_").startswith(cut.group(1)))


def remove_temporaries(out: str) -> int:
    """Remove temporary files left in ``out``'s folder by interrupted writes of data set
    ``out`` (a driver holding the data set's lock is the only one writing them)."""
    folder, name = os.path.split(out)
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(folder or "."):
            if _temporary_is_ours(entry, name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, entry))
                    removed += 1
    return removed


def missing_frames(plan: Plan, out: str, chunk: int) -> list[int]:
    """Frames of ``chunk`` whose file is not there yet (a file at its final name is whole)."""
    frames = plan.chunk_frames(chunk)
    if plan.format == "nxmx":
        return [] if os.path.exists(data_file(out, chunk)) else list(frames)
    return [i for i in frames if not os.path.exists(file_of_frame(plan, out, i))]


# --- pixel values ----------------------------------------------------------------------------


def counts(values: np.ndarray, saturation: int) -> np.ndarray:
    """Whole photon counts as uint32 (no rescaling, so frames compare): the response stage's
    rounding and clamping to [0, saturation]."""
    return images.count_image(values, saturation)


# --- NXmx data files ---------------------------------------------------------------------------


def _h5() -> Any:
    import h5py  # type: ignore[import-untyped]
    import hdf5plugin  # noqa: F401  (registers the bitshuffle filter)

    return h5py


def _bitshuffle() -> dict[str, Any]:
    import hdf5plugin

    return dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))


def _b(text: str) -> np.bytes_:
    return np.bytes_(text.encode("utf-8"))


@contextlib.contextmanager
def nxmx_data_file(
    path: str, plan: Plan, frames: Sequence[int], shape: tuple[int, int]
) -> Iterator[Callable[[int, np.ndarray, np.ndarray], None]]:
    """Open the data file of ``frames`` (consecutive) under a temporary name; yields
    ``put(k, counts, float_image)`` to store the k-th frame; written when the block ends."""
    _h5()  # h5py, with the bitshuffle filter registered
    s, f = shape
    n = len(frames)
    with atomic.hdf5_output(path) as h5:
        h5.attrs["NX_class"] = _b("NXroot")
        h5.attrs["creator"] = _b("nanobragg-rs dataset")
        h5.attrs["nanobragg_plan_id"] = _b(plan.plan_id)
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = _b("NXentry")
        group = entry.create_group("data")
        group.attrs["NX_class"] = _b("NXdata")
        group.attrs["signal"] = _b("data")
        data = group.create_dataset("data", shape=(n, s, f), dtype=np.uint32, chunks=(1, s, f), **_bitshuffle())
        data.attrs["image_nr_low"] = np.int32(frames[0] + 1)
        data.attrs["image_nr_high"] = np.int32(frames[-1] + 1)
        data.attrs["units"] = _b("counts")
        noiseless = None
        if plan.float_images:
            noiseless = group.create_dataset(
                "noiseless", shape=(n, s, f), dtype=np.float32, chunks=(1, s, f), **_bitshuffle()
            )
            noiseless.attrs["units"] = _b("counts")
            noiseless.attrs["long_name"] = _b("expected photons per pixel (float image, no noise)")

        def put(k: int, frame_counts: np.ndarray, image: np.ndarray) -> None:
            data[k] = frame_counts
            if noiseless is not None:
                noiseless[k] = image

        yield put


# --- SMV and CBF frames ------------------------------------------------------------------------


def write_smv_frame(path: str, plan: Plan, sim: Simulator, values: np.ndarray, response_bits: int | None = None) -> None:
    """nanoBragg's noise-image conversion (counts + adc, clamped to 65535) with the frame's
    own header (PHI, OSC_START, WAVELENGTH, ...). With ``response_bits`` (the plan's response
    stage, :meth:`Plan.frame_response`) the values are already noisify's counts: written as
    they are, in that many bits."""
    if response_bits is not None:
        from ..noisify import stage_smv

        atomic.write_atomic(path, stage_smv(sim.setup.header.as_dict(), values, response_bits))
        return
    rows = (block for block, _ in images.noise_rows(values, plan.adc, sim.panel.roi, round_first=True))
    smv.write_smv(path, rows, sim.setup.header.as_dict())


def write_cbf_frame(path: str, plan: Plan, sim: Simulator, values: np.ndarray) -> None:
    """A Pilatus-style miniCBF of the frame's counts, clipped to the plan's saturation."""
    from ..io import cbf

    cbf.write_cbf(path, counts(values, plan.saturation).astype(np.int32), cbf.pilatus_header(sim, plan.saturation))


# --- labels ----------------------------------------------------------------------------------


def label_rows(plan: Plan, out: str) -> list[dict[str, Any]]:
    return [plan.label_row(i, os.path.basename(file_of_frame(plan, out, i))) for i in range(plan.frames)]


def write_labels(path: str, kind: str, rows: list[dict[str, Any]]) -> None:
    """The label table as CSV (floats written exactly, as Python's repr) or Parquet."""
    if kind == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        for row in rows:
            writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in LABEL_COLUMNS])
        atomic.write_atomic(path, text.getvalue().encode())
        return
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError("Parquet labels need pyarrow: pip install pyarrow (or use -labels csv)") from e
    table = pa.table({c: [row[c] for row in rows] for c in LABEL_COLUMNS})
    with atomic.atomic_path(path) as tmp:
        pq.write_table(table, tmp)


# --- the NXmx master file --------------------------------------------------------------------


def write_master(path: str, plan: Plan, out: str, sim: Simulator, created: datetime.datetime) -> None:
    """The master file: NXmx geometry of ``sim`` (frame 0 without structure factors), the
    scan (each frame's phi start, phi_end, the increment), per-frame wavelengths when they
    vary, saturation_value, labels, and links to the data files; written last."""
    h5py = _h5()
    from ..io import nexus

    rows = label_rows(plan, out)
    s, f = sim.shape
    exposure = max(float(sim.config.beam.exposure_s), 0.0)
    end = created + datetime.timedelta(seconds=exposure * plan.frames)
    title = (
        f"nanoBragg rotation series, {plan.frames} frames"
        if plan.kind == "rotation"
        else f"nanoBragg frames at random orientations, {plan.frames} frames"
    )
    with atomic.hdf5_output(path) as h5:
        entry = nexus.write_entry(h5, os.path.basename(path), title, created, end)
        data = entry.create_group("data")
        data.attrs["NX_class"] = _b("NXdata")
        data.attrs["signal"] = _b("data")
        signals = [("data", np.uint32)] + ([("noiseless", np.float32)] if plan.float_images else [])
        for name, dtype in signals:
            # Built through the low-level API to switch off its time stamps (h5py's VirtualLayout
            # keeps HDF5's default, so a resumed run's master would differ in them).
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_obj_track_times(False)
            dcpl.set_fill_value(np.zeros(1, dtype=dtype))
            space = h5py.h5s.create_simple((plan.frames, s, f))
            for c in range(plan.n_chunks):
                frames = plan.chunk_frames(c)
                target = os.path.basename(data_file(out, c))
                data[f"{name}_{c + 1:06d}"] = h5py.ExternalLink(target, f"/entry/data/{name}")
                space.select_hyperslab((frames.start, 0, 0), (len(frames), s, f))
                source = h5py.h5s.create_simple((len(frames), s, f))
                dcpl.set_virtual(space, target.encode(), f"/entry/data/{name}".encode(), source)
            tid = h5py.h5t.py_create(np.dtype(dtype), logical=1)
            vds = h5py.Dataset(
                h5py.h5d.create(data.id, name.encode(), tid, h5py.h5s.create_simple((plan.frames, s, f)), dcpl=dcpl)
            )
            vds.attrs["units"] = _b("counts")
        wavelengths = [r["wavelength_A"] for r in rows] if plan.wavelength_range_A is not None else None
        detector = nexus.write_instrument(entry, sim, wavelengths_A=wavelengths, saturation_value=plan.saturation)
        detector["data"] = h5py.SoftLink("/entry/data/data")
        nexus.write_sample(
            entry, sim, phi_starts_deg=[r["phi_deg"] for r in rows], osc_deg=float(plan.base["osc_deg"])
        )
        nexus.write_ub_matrix(
            entry, sim, [np.array([[r[f"A{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)]) for r in rows]
        )
        nexus.write_source(entry)
        notes = entry.create_group("nanobragg")
        notes.attrs["NX_class"] = _b("NXcollection")
        notes.create_dataset("plan", data=_b(plan.to_json()))
        notes.create_dataset("plan_id", data=_b(plan.plan_id))
        labels = notes.create_group("labels")
        labels.attrs["NX_class"] = _b("NXcollection")
        labels.attrs["long_name"] = _b("one row per frame; see docs/datasets.md for the columns")
        for column in LABEL_COLUMNS:
            values = [r[column] for r in rows]
            if column == "file":
                labels.create_dataset(column, data=np.array([v.encode() for v in values]))
            else:
                labels.create_dataset(column, data=np.asarray(values))


# --- the plan file -----------------------------------------------------------------------------


def write_plan_file(path: str, plan: Plan, created: datetime.datetime) -> None:
    doc = {"nanobragg_dataset": 1, "created": created.isoformat(), "plan": plan.to_dict()}
    atomic.write_atomic(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def read_plan_file(path: str) -> tuple[dict[str, Any], datetime.datetime]:
    with open(path) as f:
        doc = json.load(f)
    return doc["plan"], datetime.datetime.fromisoformat(doc["created"])
