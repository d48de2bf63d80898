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
    print(f"solid angle subtended by detector = {st.solid_angle_sr:g} steradian ( {100 * st.solid_angle_sr / 4 / math.pi:g}% sphere)")
    print(f"writing {out.floatfile} as {pixels} 4-byte floats")
    print(f"max_I = {st.max_I:g}  at {st.max_I_x:g} {st.max_I_y:g}")
    print(f"mean= {st.mean:g} rms= {st.rms:g} rmsd= {st.rmsd:g}")
    print(f"intfile_scale = {written.int_scale:g}")
    print(f"writing {out.intfile} as 2-byte integers")
    if written.pgm_scale is not None:
        print(f"pgm_scale = {written.pgm_scale:g}")
        print(f"writing {out.pgmfile} as 1-byte integers")
    if written.noise_total is not None:
        print(f"{written.noise_total:.0f} photons on noise image ({written.overloads} overloads)")
        print(f"writing {out.noisefile} as 2-byte integers")
