"""A data-set plan: one base configuration and the rule that turns it into frame i.

A :class:`Plan` is plain data (``to_dict()`` is JSON), so it travels to Dask workers cheaply
and is written beside the output (``NAME_plan.json``) to recognise a re-run of the same data
set. Every per-frame quantity is a function of the plan and the frame index alone:

- **rotation series**: frame i is the base configuration with ``phi = phi0 + i*osc`` (the same
  ``osc`` and ``phisteps``), i.e. exactly a single render with ``-phi phi0+i*osc``;
- **random orientations**: frame i turns the base crystal by a rotation drawn uniformly on
  SO(3) from ``(orientation_seed, i)``, and draws its crystal size (N), mosaic spread and
  wavelength from their ranges, when given, the same way;
- **noise**: frame i's Poisson noise uses seed ``noise_seed(seed, i)``.

Draws come from SHA-256 of ``(stream, seed, i)`` (:func:`derive`), not from a stateful
generator, so no frame depends on which worker rendered which other frame, in what order, or
on the NumPy version. Each quantity has its own stream, so adding a range does not change the
orientations.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..config import Config
from ..structure_factors import StructureFactors

Kind = Literal["rotation", "random"]
Format = Literal["nxmx", "smv", "cbf"]

#: Version of the plan layout; a plan file with another version is not resumed.
PLAN_VERSION = 1
#: Default frames per task (and per NXmx data file).
DEFAULT_CHUNK = 10
#: Default saturation (counts): fits both uint32 (HDF5) and int32 (CBF), and stays clear of
#: 0xFFFFFFFF, which EIGER files use to flag bad pixels.
DEFAULT_SATURATION = 2**31 - 1
#: Seeds handed to nanoBragg's generators lie in [1, SEED_MAX].
SEED_MAX = 2**31 - 1

#: Columns of the label table, in order.
LABEL_COLUMNS = (
    ["index", "image", "file", "phi_deg", "osc_deg", "wavelength_A", "n_a", "n_b", "n_c"]
    + ["mosaic_spread_deg", "mosaic_seed", "noise_seed", "orientation_seed"]
    + [f"U{r}{c}" for r in (1, 2, 3) for c in (1, 2, 3)]
    + [f"A{r}{c}" for r in (1, 2, 3) for c in (1, 2, 3)]
    + ["cell_a", "cell_b", "cell_c", "cell_alpha", "cell_beta", "cell_gamma"]
)


class PlanError(ValueError):
    """A plan that cannot be rendered; the message says why."""


# --- deterministic draws -----------------------------------------------------------------


def derive(seed: int, index: int, stream: str) -> int:
    """A 64-bit integer determined by ``(stream, seed, index)`` alone (SHA-256)."""
    digest = hashlib.sha256(f"nanobragg-rs/{stream}/{int(seed)}/{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _uniforms(seed: int, index: int, stream: str, count: int) -> list[float]:
    """``count`` independent uniform numbers in [0, 1) from ``(stream, seed, index)``."""
    return [(derive(seed, index, f"{stream}/{k}") >> 11) / 2.0**53 for k in range(count)]


def positive_seed(seed: int, index: int, stream: str) -> int:
    """A seed in [1, 2^31 - 1] for nanoBragg's generators, from ``(stream, seed, index)``."""
    return derive(seed, index, stream) % SEED_MAX + 1


def noise_seed(seed: int, index: int) -> int:
    """The Poisson noise seed of frame ``index`` of a data set with base seed ``seed``."""
    return positive_seed(seed, index, "noise")


def random_rotation(seed: int, index: int) -> np.ndarray:
    """A rotation matrix drawn uniformly (Haar measure) on SO(3) from ``(seed, index)``.

    Shoemake's construction: three uniforms give a unit quaternion uniform on the 3-sphere,
    whose rotation is then uniform on SO(3)."""
    u1, u2, u3 = _uniforms(seed, index, "orientation", 3)
    a, b = math.sqrt(1.0 - u1), math.sqrt(u1)
    x, y = a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2)
    z, w = b * math.sin(2 * math.pi * u3), b * math.cos(2 * math.pi * u3)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _draw_float(seed: int, index: int, stream: str, lo: float, hi: float) -> float:
    (u,) = _uniforms(seed, index, stream, 1)
    return lo + (hi - lo) * u


def _draw_int(seed: int, index: int, stream: str, lo: int, hi: int) -> int:
    return lo + derive(seed, index, stream) % (hi - lo + 1)


# --- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to render: base configuration, frames, how they vary, and what to write.

    Build one with :func:`make_plan` (which resolves ``base``); ``to_dict``/``from_dict`` give
    and take plain JSON-ready data.
    """

    #: ``Config.to_dict()`` of the base configuration (no structure factors, no mask).
    config: dict[str, Any]
    frames: int
    kind: Kind = "rotation"
    #: Base of the per-frame noise seeds.
    seed: int = 1
    noise: bool = True
    #: Random orientations: base of the per-frame orientation (and range) draws.
    orientation_seed: int | None = None
    #: Per-frame ranges (random orientations only): cells per axis, degrees, Å; inclusive.
    n_cells_range: tuple[int, int] | None = None
    mosaic_range_deg: tuple[float, float] | None = None
    wavelength_range_A: tuple[float, float] | None = None
    #: Where the structure factors come from: {"path", "format": "hkl"|"fdump", "sha256"} or
    #: {"indices": [[h, k, l], ...], "amplitudes": [...]}; None for default_F everywhere.
    structure_factors: dict[str, Any] | None = None
    #: The mask: {"path" (an SMV image), "sha256"} or {"values": [...]}; None for no mask.
    mask: dict[str, Any] | None = None
    format: Format = "nxmx"
    #: Frames per task; for NXmx also frames per data file.
    chunk: int = DEFAULT_CHUNK
    #: NXmx: also store the noiseless float images.
    float_images: bool = False
    #: SMV: offset added to the counts, as nanoBragg's -adc.
    adc: float = 40.0
    #: NXmx and CBF: counts are clipped to this value, written as saturation_value.
    saturation: int = DEFAULT_SATURATION
    labels: Literal["csv", "parquet"] = "csv"
    #: Amorphous backgrounds added to every frame: ``Background`` fields (table files by
    #: absolute path), see nanobragg_rs.background.
    backgrounds: list[dict[str, Any]] = field(default_factory=list)
    #: The detector response flags (noisify's: -psf, -gain, -readout, ...; docs/noisify.md):
    #: when given, every frame records noisify's counts of its float image, drawn with the
    #: frame's noise seed, instead of whole photons.
    response: list[str] = field(default_factory=list)
    #: Resolved from the base configuration by make_plan: phi_deg, osc_deg, wavelength_A,
    #: reciprocal (a*, b*, c* as columns, lab frame, 1/Å, row-major), cell, n_cells,
    #: mosaic_spread_deg, mosaic_seed, shape.
    base: dict[str, Any] = field(default_factory=dict)
    version: int = PLAN_VERSION

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise PlanError(f"frames: need at least one frame, not {self.frames}")
        if self.chunk < 1:
            raise PlanError(f"chunk: need at least one frame per chunk, not {self.chunk}")
        if self.kind not in ("rotation", "random"):
            raise PlanError(f"kind: 'rotation' or 'random', not {self.kind!r}")
        if self.kind == "random" and self.orientation_seed is None:
            raise PlanError("random orientations need an orientation seed")
        ranges = (self.n_cells_range, self.mosaic_range_deg, self.wavelength_range_A)
        if self.kind == "rotation" and any(r is not None for r in ranges):
            raise PlanError("per-frame ranges (N, mosaic, wavelength) need random orientations")
        if self.format not in ("nxmx", "smv", "cbf"):
            raise PlanError(f"format: nxmx, smv or cbf, not {self.format!r}")
        if self.labels not in ("csv", "parquet"):
            raise PlanError(f"labels: csv or parquet, not {self.labels!r}")
        if not 1 <= self.saturation <= DEFAULT_SATURATION:
            raise PlanError(f"saturation: between 1 and {DEFAULT_SATURATION}, not {self.saturation}")
        for name, r in (("N", self.n_cells_range), ("mosaic", self.mosaic_range_deg), ("wavelength", self.wavelength_range_A)):
            if r is not None and not (len(r) == 2 and r[0] <= r[1]):
                raise PlanError(f"{name} range: need MIN <= MAX, not {list(r)}")
        if self.n_cells_range is not None and self.n_cells_range[0] < 1:
            raise PlanError("N range: at least one cell")
        if self.mosaic_range_deg is not None and self.mosaic_range_deg[0] < 0:
            raise PlanError("mosaic range: spreads cannot be negative")
        if self.wavelength_range_A is not None and self.wavelength_range_A[0] <= 0:
            raise PlanError("wavelength range: wavelengths must be positive")

    # --- plain data ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (tuples become lists)."""
        out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        if not out["response"]:
            del out["response"]  # plans written before the response stage stay the same
        return out

    def frame_response(self) -> tuple[int, Any] | None:
        """The bit depth and :class:`~nanobragg_rs.response.Response` of every frame, or None
        without response flags."""
        if not self.response:
            return None
        from ..noisify import stage_response

        det, fix = self.config["detector"], bool(self.config.get("fix_quirks", False))
        return stage_response(self.response, pixel_mm=float(det["pixel_size_mm"]), adc=self.adc, noise=self.noise,
                              fix_quirks=fix)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise PlanError(f"plan: unknown field {sorted(unknown)[0]!r}")
        if data.get("version", PLAN_VERSION) != PLAN_VERSION:
            raise PlanError(f"plan: version {data.get('version')} is not {PLAN_VERSION}")
        values = dict(data)
        for key in ("n_cells_range", "mosaic_range_deg", "wavelength_range_A"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def background_objects(self) -> list[Any]:
        """The plan's backgrounds as :class:`~nanobragg_rs.background.Background` objects."""
        from ..background import Background

        return [Background(**b) for b in self.backgrounds]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @functools.cached_property
    def plan_id(self) -> str:
        """A short digest of the whole plan: equal plans render equal files."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # --- chunks ----------------------------------------------------------------------------
    @property
    def n_chunks(self) -> int:
        return -(-self.frames // self.chunk)

    def chunk_frames(self, chunk: int) -> range:
        """Frame indices (0-based) of chunk ``chunk`` (0-based)."""
        if not 0 <= chunk < self.n_chunks:
            raise IndexError(f"chunk {chunk} out of range (0..{self.n_chunks - 1})")
        return range(chunk * self.chunk, min((chunk + 1) * self.chunk, self.frames))

    # --- frames ----------------------------------------------------------------------------
    def frame_settings(self, index: int) -> dict[str, Any]:
        """Everything that varies for frame ``index`` (0-based): its labels, without file."""
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} out of range (0..{self.frames - 1})")
        b = self.base
        A0 = np.asarray(b["reciprocal"], dtype=np.float64).reshape(3, 3)
        wavelength = float(b["wavelength_A"])
        n_cells = list(b["n_cells"])
        mosaic = float(b["mosaic_spread_deg"])
        mosaic_seed = int(b["mosaic_seed"])
        phi = float(b["phi_deg"])
        U = np.eye(3)
        if self.kind == "rotation":
            phi = float(b["phi_deg"]) + index * float(b["osc_deg"])
            orientation_seed = -1
        else:
            assert self.orientation_seed is not None
            s = self.orientation_seed
            orientation_seed = s
            U = random_rotation(s, index)
            if self.n_cells_range is not None:
                n = _draw_int(s, index, "n_cells", *self.n_cells_range)
                n_cells = [n, n, n]
            if self.mosaic_range_deg is not None:
                mosaic = _draw_float(s, index, "mosaic", *self.mosaic_range_deg)
            if self.wavelength_range_A is not None:
                wavelength = _draw_float(s, index, "wavelength", *self.wavelength_range_A)
            # Every crystal of a training set gets its own mosaic block.
            mosaic_seed = positive_seed(s, index, "mosaic_seed")
        A = U @ A0
        out: dict[str, Any] = {
            "index": index,
            "image": index + 1,
            "phi_deg": phi,
            "osc_deg": float(b["osc_deg"]),
            "wavelength_A": wavelength,
            "n_a": int(n_cells[0]),
            "n_b": int(n_cells[1]),
            "n_c": int(n_cells[2]),
            "mosaic_spread_deg": mosaic,
            "mosaic_seed": mosaic_seed,
            "noise_seed": noise_seed(self.seed, index) if self.noise else -1,
            "orientation_seed": orientation_seed,
        }
        for r in range(3):
            for c in range(3):
                out[f"U{r + 1}{c + 1}"] = float(U[r, c])
        for r in range(3):
            for c in range(3):
                out[f"A{r + 1}{c + 1}"] = float(A[r, c])
        for name, value in zip(("a", "b", "c", "alpha", "beta", "gamma"), b["cell"]):
            out[f"cell_{name}"] = float(value)
        return out

    def frame_config(self, index: int, *, structure_factors: bool = True) -> Config:
        """The configuration of frame ``index``, with structure factors (unless told not to
        load them) and mask loaded."""
        cfg = Config.from_dict(self.config)
        s = self.frame_settings(index)
        if self.kind == "rotation":
            cfg.sampling.phi_deg = s["phi_deg"]
        else:
            A = np.array([[s[f"A{r}{c}"] for c in (1, 2, 3)] for r in (1, 2, 3)])
            # A MOSFLM matrix is wavelength-scaled; the core divides by this frame's wavelength.
            cfg.crystal.mosflm_matrix = tuple(float(x) for x in (s["wavelength_A"] * A).reshape(-1))
            cfg.crystal.misset_deg = None
            cfg.crystal.misset_random = False
            cfg.crystal.mosaic_seed = s["mosaic_seed"]
            if self.n_cells_range is not None:
                cfg.crystal.n_cells = (s["n_a"], s["n_b"], s["n_c"])
                cfg.crystal.size_mm = (None, None, None)
            if self.mosaic_range_deg is not None:
                cfg.crystal.mosaic_spread_deg = s["mosaic_spread_deg"]
            if self.wavelength_range_A is not None:
                cfg.beam.wavelength_A = s["wavelength_A"]
                cfg.beam.energy_eV = None
        if structure_factors and self.structure_factors is not None:
            cfg.crystal.structure_factors = load_structure_factors(self.structure_factors)
        if self.mask is not None:
            cfg.detector.mask = load_mask(self.mask).reshape(self.base["shape"])
        return cfg

    def label_row(self, index: int, file: str) -> dict[str, Any]:
        """The label row of frame ``index`` (see LABEL_COLUMNS)."""
        row = self.frame_settings(index)
        row["file"] = file
        return {k: row[k] for k in LABEL_COLUMNS}


# --- inputs named by path ------------------------------------------------------------------


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_digest(spec: dict[str, Any]) -> str:
    path = str(spec["path"])
    digest = file_sha256(path)
    if spec.get("sha256") not in (None, digest):
        raise PlanError(f"{path} changed since the data set was planned (its SHA-256 differs)")
    return path


def load_structure_factors(spec: dict[str, Any]) -> StructureFactors:
    """The structure factors a plan names (read once per process)."""
    return _load_structure_factors(json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _load_structure_factors(key: str) -> StructureFactors:
    spec = json.loads(key)
    if "indices" in spec:
        return StructureFactors(np.asarray(spec["indices"]), np.asarray(spec["amplitudes"]))
    path = _check_digest(spec)
    if spec.get("format") == "fdump":
        return StructureFactors.from_fdump(path)
    if spec.get("format") == "reflections":
        return StructureFactors.load(path, **spec["options"])
    return StructureFactors.read(path)


def load_mask(spec: dict[str, Any]) -> np.ndarray:
    """The mask a plan names, flat (read once per process)."""
    return _load_mask(json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _load_mask(key: str) -> np.ndarray:
    spec = json.loads(key)
    if "values" in spec:
        return np.asarray(spec["values"], dtype=np.uint16)
    from ..io.smv import read_smv

    return read_smv(_check_digest(spec)).data.reshape(-1)


def _sf_spec(sf: StructureFactors | None) -> dict[str, Any] | None:
    if sf is None:
        return None
    if sf.source is not None and os.path.isfile(sf.source):
        path = os.path.abspath(sf.source)
        if sf.read_options is not None:
            # An MTZ, mmCIF or model file: read again, the same way, by each worker.
            return {"path": path, "format": "reflections", "options": sf.read_options, "sha256": file_sha256(path)}
        fmt = "fdump" if sf.indices is None else "hkl"
        return {"path": path, "format": fmt, "sha256": file_sha256(path)}
    if sf.indices is None or sf.amplitudes is None:
        raise PlanError("structure factors: a table without its file cannot be planned")
    return {"indices": sf.indices.tolist(), "amplitudes": sf.amplitudes.tolist()}


def make_plan(
    config: Config,
    frames: int,
    *,
    random_orientations: int | None = None,
    n_cells_range: tuple[int, int] | None = None,
    mosaic_range_deg: tuple[float, float] | None = None,
    wavelength_range_A: tuple[float, float] | None = None,
    seed: int = 1,
    noise: bool = True,
    format: Format = "nxmx",
    chunk: int = DEFAULT_CHUNK,
    float_images: bool = False,
    adc: float = 40.0,
    saturation: int = DEFAULT_SATURATION,
    labels: Literal["csv", "parquet"] = "csv",
    mask_path: str | None = None,
    backgrounds: Sequence[Any] = (),
    response: Sequence[str] = (),
) -> Plan:
    """A plan for ``frames`` frames of ``config``: a rotation series (frame i at
    ``phi + i*osc``), or, with ``random_orientations=SEED``, frames at random orientations.

    Structure factors read from a file (``StructureFactors.read``/``from_fdump``) are named by
    path and SHA-256 (workers read the file, so it must be on a file system they share);
    other tables are stored in the plan. ``mask_path`` names the SMV image a mask came from
    (otherwise the mask's values are stored in the plan).
    """
    from ..simulate import Simulator

    sf_spec = _sf_spec(config.crystal.structure_factors)
    mask_spec: dict[str, Any] | None = None
    if mask_path is not None:
        path = os.path.abspath(mask_path)
        mask_spec = {"path": path, "sha256": file_sha256(path)}
    elif config.detector.mask is not None:
        mask_spec = {"values": np.asarray(config.detector.mask).reshape(-1).astype(int).tolist()}
    if config.crystal.structure_factors is None and config.crystal.default_F == 0.0:
        raise PlanError("no structure factors: give an HKL table or a nonzero default_F")
    if wavelength_range_A is not None and config.beam.sources:
        raise PlanError("a wavelength range cannot be combined with explicit sources (-sourcefile)")

    geometry_only = config.replace(**{"crystal.structure_factors": None, "detector.mask": None})
    if geometry_only.crystal.default_F == 0.0:
        geometry_only.crystal.default_F = 1.0
    geometry = Simulator(geometry_only)
    setup = geometry.setup
    lat = setup.crystal.lattice
    reciprocal = np.column_stack([lat.a_star, lat.b_star, lat.c_star])
    osc = config.sampling.osc_deg
    if osc is None:
        osc = math.degrees(setup.sampling.phi.osc)
    base = {
        "phi_deg": float(config.sampling.phi_deg),
        "osc_deg": float(osc),
        "wavelength_A": setup.beam.wavelength_m * 1e10,
        "reciprocal": [float(x) for x in reciprocal.reshape(-1)],
        "cell": [float(x) for x in lat.cell],
        "n_cells": [int(round(x)) for x in setup.crystal.n_cells],
        "mosaic_spread_deg": math.degrees(setup.crystal.mosaic_spread_rad),
        "mosaic_seed": int(config.crystal.mosaic_seed),
        "shape": list(geometry.shape),
    }
    if config.beam.energy_eV is None and config.beam.sources is None:
        base["wavelength_A"] = float(config.beam.wavelength_A)
    return Plan(
        config=config.to_dict(),
        frames=frames,
        kind="random" if random_orientations is not None else "rotation",
        seed=seed,
        noise=noise,
        orientation_seed=random_orientations,
        n_cells_range=n_cells_range,
        mosaic_range_deg=mosaic_range_deg,
        wavelength_range_A=wavelength_range_A,
        structure_factors=sf_spec,
        mask=mask_spec,
        format=format,
        chunk=chunk,
        float_images=float_images,
        adc=adc,
        saturation=saturation,
        labels=labels,
        backgrounds=[_background_spec(b) for b in backgrounds],
        response=list(response),
        base=base,
    )


def _background_spec(bg: Any) -> dict[str, Any]:
    """A background as plain data, a table file by absolute path (workers read it)."""
    spec = dataclasses.asdict(bg)
    if os.path.isfile(spec["material"]):
        spec["material"] = os.path.abspath(spec["material"])
    return spec
