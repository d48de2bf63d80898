"""Pilatus-style miniCBF images (int32 counts, byte-offset compression) through fabio."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .atomic import atomic_path
from .geometry import beam_hit, in_plane

if TYPE_CHECKING:
    from ..simulate import Simulator


def pilatus_header(sim: Simulator, saturation: int) -> str:
    """The '# ...' lines of a Pilatus-style miniCBF header for the image ``sim`` renders."""
    setup = sim.setup
    geo = sim.panel.geometry
    px = geo.pixel_size
    fdet, sdet = np.asarray(geo.fdet, float), np.asarray(geo.sdet, float)
    pix0 = np.asarray(geo.pix0, float)
    hit = beam_hit(pix0, fdet, sdet, np.asarray(geo.beam, float))
    if hit is not None:
        bx, by = in_plane(hit - pix0, fdet * px, sdet * px)
        distance = float(np.linalg.norm(hit))
    else:
        bx = by = float("nan")
        distance = geo.close_distance
    phi = setup.sampling.phi
    start = float(np.degrees(phi.phi0))
    osc = float(np.degrees(phi.osc))
    exposure = float(sim.config.beam.exposure_s)
    lines = [
        "Detector: nanobragg-rs simulated detector, S/N 0",
        f"Pixel_size {px:.6g} m x {px:.6g} m",
        f"Silicon sensor, thickness {setup.sampling.thickness.thickness:.6f} m",
        f"Exposure_time {exposure:.7g} s",
        f"Exposure_period {exposure:.7g} s",
        f"Count_cutoff {saturation} counts",
        f"Wavelength {setup.beam.wavelength_m * 1e10:.6f} A",
        f"Detector_distance {distance:.6f} m",
        f"Beam_xy ({bx:.2f}, {by:.2f}) pixels",
        f"Start_angle {start:.6f} deg.",
        f"Angle_increment {osc:.6f} deg.",
        f"Phi {start:.6f} deg.",
    ]
    return "\r\n".join("# " + line for line in lines)


def write_cbf(path: str | os.PathLike[str], counts: np.ndarray, header: str) -> None:
    """Write int32 ``counts`` (slow, fast) with the Pilatus ``header`` lines as a miniCBF,
    as an output of the protocol in :mod:`nanobragg_rs.io.atomic`."""
    import fabio.cbfimage  # type: ignore[import-untyped]

    image = fabio.cbfimage.CbfImage(
        data=np.ascontiguousarray(counts, dtype=np.int32),
        header={"_array_data.header_convention": "PILATUS_1.2", "_array_data.header_contents": header},
    )
    final = os.path.splitext(os.path.basename(os.fspath(path)))[0].encode()
    with atomic_path(path) as tmp:
        image.write(tmp)
        # fabio names the CIF data block after the file it writes: give it the final name,
        # so the bytes do not depend on the temporary's.
        with open(tmp, "rb") as f:
            raw = f.read()
        stem = os.path.splitext(os.path.basename(tmp))[0].encode()
        head, sep, rest = raw.partition(b"\ndata_" + stem)
        with open(tmp, "wb") as f:
            f.write(head + b"\ndata_" + final + rest if sep else raw)
