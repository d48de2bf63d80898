"""Detector files named on the command line: -panels (JSON), -expt (DIALS), -geom (CrystFEL).

They are read before the flags, as nanoBragg reads -img and -mask headers, so that a flag
given on the command line overrides what the file says (beam, polarization, spindle,
crystal, photon energy).
"""

from __future__ import annotations

from typing import Any

from .model import PanelFileError

#: Flags that name a detector file.
DETECTOR_FLAGS = ("-panels", "-expt", "-geom")


def load_detector_files(st: Any, tokens: list[str], usage_error: type[Exception]) -> None:
    """Read the detector files among ``tokens`` into ``st.run`` (an ``args.State``)."""
    given = [(tok, tokens[i + 1]) for i, tok in enumerate(tokens[:-1]) if tok in DETECTOR_FLAGS]
    if not given:
        return
    if len(given) > 1:
        raise usage_error(f"{given[1][0]}: give one detector file (-panels, -expt or -geom), not several")
    flag, path = given[0]
    run = st.run
    run.detector_file = (flag, path)
    try:
        if flag == "-panels":
            from .model import read_panels_json

            st.assign("detector.panels", read_panels_json(path), f"{flag} {path}")
        elif flag == "-expt":
            from .expt import read_expt

            ex = read_expt(path)
            st.assign("detector.panels", ex.panels, f"{flag} {path}")
            source = f"{flag} {path}"
            if ex.beam is not None:
                st.assign("beam.wavelength_A", ex.beam.wavelength_A, source)
                st.assign("beam.energy_eV", None, source)
                st.assign("beam.beam_vector", ex.beam.beam_vector, source)
                if ex.beam.polar_vector is not None:
                    st.assign("beam.polar_vector", ex.beam.polar_vector, source)
                if ex.beam.polarization is not None:
                    st.assign("beam.polarization", ex.beam.polarization, source)
                st.assign("detector.convention", "custom", source)
            if ex.spindle_axis is not None:
                st.assign("sampling.spindle_axis", ex.spindle_axis, source)
                st.assign("detector.convention", "custom", source)
            if ex.mosflm_matrix is not None:
                st.assign("crystal.mosflm_matrix", ex.mosflm_matrix, source)
        else:
            from .geom import read_geom

            g = read_geom(path)
            st.assign("detector.panels", g.panels, f"{flag} {path}")
            run.geom = g
            if g.photon_energy_eV is not None:
                st.assign("beam.energy_eV", g.photon_energy_eV, f"{flag} {path}")
    except FileNotFoundError:
        raise usage_error(f"{flag}: cannot read file '{path}'") from None
    except (PanelFileError, OSError, ImportError) as e:
        raise usage_error(f"{flag}: {e}") from None
