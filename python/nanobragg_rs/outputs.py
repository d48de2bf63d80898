"""A run's image files: rendered and written by the compiled core, and the lines reporting them.

The plain path (float, SMV integer, PGM, SMV noise) never hands the image to Python, so a
``nanobragg`` run needs no numpy; only an NXmx output asks for the image as an array.
"""

from __future__ import annotations

import math

from .args import Output
from .simulate import FileOutputs, Simulator, Written

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    import numpy as np

    from .background import Background


def render_and_write(
    sim: Simulator,
    out: Output,
    seed: int,
    threads: int | None,
    progress: Callable[[int], object] | None,
    keep_image: bool = False,
    backgrounds: Sequence[Background] = (),
) -> tuple[Written, np.ndarray | None]:
    """Render and write the float, integer, PGM and noise files ``out`` asks for; with
    ``keep_image`` the float image is also returned as an array (for NXmx). Backgrounds are
    added to the image before it is written."""
    files = FileOutputs(
        floatfile=out.floatfile, intfile=out.intfile, pgmfile=out.pgmfile if out.write_pgm else None,
        noisefile=out.noisefile if out.write_noise else None, seed=seed, scale=out.scale, pgmscale=out.pgmscale,
        adc=out.adc,
    )
    if not (keep_image or backgrounds):
        return sim.render_to_files(files, threads=threads, progress=progress), None
    image = sim.render(threads=threads, progress=progress, backgrounds=backgrounds)
    return sim.write_files(image, files), image if keep_image else None


def print_written(out: Output, written: Written, pixels: int) -> None:
    """The reference's closing lines: solid angle, statistics, scales and the files written."""
    st = written.stats
    pgm = (written.pgm_scale, out.pgmfile) if written.pgm_scale is not None else None
    noise = (written.noise_total, written.overloads, out.noisefile) if written.noise_total is not None else None
    print("\n".join(closing_lines(
        solid_angle_sr=st.solid_angle_sr, floatfile=out.floatfile, pixels=pixels, max_i=(st.max_I, st.max_I_x, st.max_I_y),
        moments=(st.mean, st.rms, st.rmsd), int_scale=written.int_scale, intfile=out.intfile, pgm=pgm, noise=noise,
    )))


def closing_lines(
    *,
    solid_angle_sr: float,
    floatfile: str,
    pixels: int,
    max_i: tuple[float, float, float],
    moments: tuple[float, float, float],
    int_scale: float,
    intfile: str,
    pgm: tuple[float, str | None] | None,
    noise: tuple[float, int, str] | None,
    between: Sequence[str] = (),
    fmt: Callable[[float, str], str] = format,
) -> list[str]:
    """The lines nanoBragg and nonBragg print after a render, in their order: the solid angle,
    ``between`` (nonbragg's -stolout lines), the float file, max_I and its position (m), mean,
    rms and rmsd, the integer image's scale and file, the PGM's (``(scale, file)``; a file of
    None prints the scale alone) and the noise image's ``(photons, overloads, file)``.
    ``fmt(value, spec)`` formats the statistics (nonbragg prints NaN as C does)."""
    lines = [f"solid angle subtended by detector = {solid_angle_sr:g} steradian ( {100 * solid_angle_sr / 4 / math.pi:g}% sphere)"]
    lines += between
    lines.append(f"writing {floatfile} as {pixels} 4-byte floats")
    lines.append(f"max_I = {max_i[0]:g}  at {max_i[1]:g} {max_i[2]:g}")
    lines.append("mean= {} rms= {} rmsd= {}".format(*(fmt(x, "g") for x in moments)))
    lines.append(f"intfile_scale = {int_scale:g}")
    lines.append(f"writing {intfile} as 2-byte integers")
    if pgm is not None:
        lines.append(f"pgm_scale = {pgm[0]:g}")
        if pgm[1] is not None:
            lines.append(f"writing {pgm[1]} as 1-byte integers")
    if noise is not None:
        lines.append(f"{fmt(noise[0], '.0f')} photons on noise image ({noise[1]} overloads)")
        lines.append(f"writing {noise[2]} as 2-byte integers")
    return lines
