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
    """Read the detector files among ``tokens`` into ``st.run`` (an ``args._State``)."""
    given = [(tok, tokens[i + 1]) for i, tok in enumerate(tokens[:-1]) if tok in DETECTOR_FLAGS]
    if not given:
        return
    if len(given) > 1:
        raise usage_error(f"{given[1][0]}: give one detector file (-panels, -expt or -geom), not several")
    flag, path = given[0]
    run = st.run
    cfg = run.config
    run.detector_file = (flag, path)
    try:
        if flag == "-panels":
            from .model import read_panels_json

            cfg.detector.panels = read_panels_json(path)
        elif flag == "-expt":
            from .expt import read_expt

            ex = read_expt(path)
            cfg.detector.panels = ex.panels
            if ex.beam is not None:
                cfg.beam.wavelength_A, cfg.beam.energy_eV = ex.beam.wavelength_A, None
                st.vectors["beam_vector"] = ex.beam.beam_vector
                if ex.beam.polar_vector is not None:
                    st.vectors["polar_vector"] = ex.beam.polar_vector
                if ex.beam.polarization is not None:
                    cfg.beam.polarization = ex.beam.polarization
                st.convention = "custom"
            if ex.spindle_axis is not None:
                st.vectors["spindle_axis"] = ex.spindle_axis
                st.convention = "custom"
            if ex.mosflm_matrix is not None:
                cfg.crystal.mosflm_matrix = ex.mosflm_matrix
        else:
            from .geom import read_geom

            g = read_geom(path)
            cfg.detector.panels = g.panels
            run.geom = g
            if g.photon_energy_eV is not None:
                cfg.beam.energy_eV = g.photon_energy_eV
    except FileNotFoundError:
        raise usage_error(f"{flag}: cannot read file '{path}'") from None
    except (PanelFileError, OSError, ImportError) as e:
        raise usage_error(f"{flag}: {e}") from None
