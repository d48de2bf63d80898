"""nanoBragg command lines translated into a :class:`Config` and output settings.

Flags mean what they mean to nanoBragg.c (same units and defaults; later flags override
earlier ones). Unlike the reference, flags are matched exactly (with its documented aliases),
values are consumed by the flag that takes them, and an unknown flag, a missing or non-numeric
value, or an impossible value is an error naming the flag. See docs/parity.md for where this
differs from the reference's substring matching.

Every flag is declared once in :mod:`.schema`; this module is the one parser that reads them,
for ``nanobragg``, ``nanobragg dataset`` and any subcommand that takes nanoBragg's flags.
"""

from __future__ import annotations

import math

from . import values
from ._records import field, record
from .config import Config, Strict
from .errors import UsageError
from .schema import BY_FLAG, FIELD_FLAGS, HEADER_FIELDS, Setting, existing_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["FLAGS", "DatasetOptions", "Output", "Run", "State", "UsageError", "parse_args"]


@record
class Output(Strict):
    """What to write, and how the integer images are scaled."""

    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    h5file: str | None = None
    #: CXI (HDF5) image laid out as the -geom file places its panels.
    cxi: str | None = None
    write_pgm: bool = True
    write_noise: bool = True
    #: Integer-image scale; 0 chooses 55000/max_I.
    scale: float = 0.0
    #: PGM scale; 0 chooses 250/(5·rmsd).
    pgmscale: float = 0.0
    adc: float = 40.0
    #: Noise seed; ``None`` takes the clock, as the reference does.
    seed: int | None = None


@record
class DatasetOptions(Strict):
    """The options of ``nanobragg dataset`` (see docs/datasets.md); ``None``: not given."""

    frames: int | None = None
    out: str | None = None
    random_orientations: int | None = None
    n_cells_range: tuple[int, int] | None = None
    mosaic_range_deg: tuple[float, float] | None = None
    wavelength_range_A: tuple[float, float] | None = None
    format: str = "nxmx"
    chunk: int | None = None
    float_images: bool = False
    labels: str = "csv"
    saturation: int | None = None
    engine: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    overwrite: bool = False


@record
class Run(Strict):
    """A parsed command line: the configuration, outputs, and the files it names."""

    config: Config = field(default_factory=Config)
    output: Output = field(default_factory=Output)
    hkl_file: str | None = None
    dump_file: str = "Fdump.bin"
    #: Reading structure factors from MTZ/mmCIF files and models (nanobragg_rs.reflections).
    mtz_column: str | None = None
    pdb_file: str | None = None
    ksol: float | None = None
    bsol: float | None = None
    anomalous: bool = False
    mat_file: str | None = None
    source_file: str | None = None
    mask_file: str | None = None
    img_file: str | None = None
    printout: bool = False
    printout_pixel: tuple[int, int] | None = None
    trace_pixel: tuple[int, int] | None = None
    #: Panel of -trace_pixel on a multi-panel detector.
    trace_panel: str | None = None
    #: The CrystFEL geometry read by -geom (for -cxi).
    geom: Any = None
    #: The detector file's flag and path (-panels, -expt or -geom), for messages.
    detector_file: tuple[str, str] | None = None
    progress: bool = True
    threads: int | None = None
    #: Amorphous backgrounds (``-background``) added in the render (nanobragg_rs.background).
    backgrounds: list[Any] = field(default_factory=list)
    #: Flags accepted for compatibility that change nothing in the image.
    ignored: list[str] = field(default_factory=list)
    #: Detector-response flags (noisify's, see noisify.RENDER_FLAGS) and their values.
    response_args: list[str] = field(default_factory=list)
    #: Options of ``nanobragg dataset``.
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    #: Configuration field -> the flag (or header) that last set it, for error messages.
    provenance: dict[str, str] = field(default_factory=dict)
    #: Tokens that are no flag's values, for commands that take positional arguments.
    positional: list[str] = field(default_factory=list)

    def sources(self) -> dict[str, str]:
        """Configuration field -> what to name in a message about it: the flag the user gave
        for it; for a value the core chose itself, the flag the user gave that it follows
        from; else the schema's flag."""
        out = dict(FIELD_FLAGS)
        out.update(self.provenance)
        for derived, inputs in DERIVED.items():
            if derived not in self.provenance:
                given = [self.provenance[f] for f in inputs if f in self.provenance]
                if given:
                    out[derived] = f"{given[0]} (through the automatic {FIELD_FLAGS[derived]})"
        return out


#: Values the core derives when they are not given, and what they follow from (first first).
DERIVED = {
    "sampling.oversample": (
        "crystal.size_mm", "crystal.n_cells", "crystal.cell", "crystal.mosflm_matrix",
        "detector.pixel_size_mm", "detector.distance_mm", "beam.wavelength_A",
    ),
    "detector.detpixels_f": ("detector.detsize_f_mm", "detector.pixel_size_mm"),
    "detector.detpixels_s": ("detector.detsize_s_mm", "detector.pixel_size_mm"),
}


#: Fields that only the custom convention honours; another convention drops them.
CUSTOM_ONLY = (
    "sampling.spindle_axis", "beam.beam_vector", "beam.polar_vector", "detector.fdet_vector",
    "detector.sdet_vector", "detector.odet_vector", "detector.twotheta_axis", "detector.pix0_vector_m",
)

_CONFIG_SECTIONS = ("crystal", "beam", "detector", "sampling")


class State:
    """The run being built, and the order-dependent choices resolved at the end."""

    def __init__(self, run: Run) -> None:
        self.run = run
        #: Whether the last pix0 flag was -pix0_vector_mm.
        self.pix0_in_mm = False

    def _owner(self, path: str) -> tuple[Any, str, bool]:
        head, _, name = path.partition(".")
        if head in _CONFIG_SECTIONS:
            return getattr(self.run.config, head), name, True
        if head == "fix_quirks" and not name:
            return self.run.config, head, True
        if head == "output":
            return self.run.output, name, False
        if head == "dataset":
            return self.run.dataset, name, False
        if head == "run":
            return self.run, name, False
        raise KeyError(path)

    def assign(self, path: str, value: Any, flag: str) -> None:
        """Set ``path`` (``section.field`` or ``section.field[i]``) and note who set it."""
        owner, name, is_config = self._owner(path.split("[", 1)[0])
        if "[" in path:
            index = int(path[path.index("[") + 1 : -1])
            items = list(getattr(owner, name))
            items[index] = value
            value = tuple(items)
        setattr(owner, name, value)
        if is_config:
            self.run.provenance[path.split("[", 1)[0]] = flag

    def apply(self, setting: Setting, flag: str, vals: list[str]) -> None:
        """What a flag does with its value tokens."""
        if setting.action is not None:
            setting.action(self, flag, vals)
        else:
            conv = setting.conv
            if setting.arity == 0:
                value = setting.const
            elif conv is None:
                raise AssertionError(f"{setting.name}: declared without a converter")
            elif setting.arity == 1:
                value = conv(flag, vals[0])
            else:
                value = tuple(conv(flag, t) for t in vals)
            for path in setting.to:
                self.assign(path, value, flag)
        for path, const in setting.also:
            self.assign(path, const, flag)


#: Every flag ``nanobragg`` accepts.
FLAGS = frozenset(f for f, s in BY_FLAG.items() if "nanobragg" in s.commands)


def _take(setting: Setting, flag: str, rest: list[str]) -> list[str]:
    """The value tokens of ``flag`` among the tokens after it."""
    if setting.take is not None:
        n = setting.take(rest)
        return rest[:n] if n else _missing(flag, setting.arity)
    if setting.arity >= 0:
        vals = rest[: setting.arity]
        if len(vals) < setting.arity:
            _missing(flag, setting.arity)
        return vals
    vals = []
    for tok in rest[: -setting.arity]:
        if not values.is_number(tok):
            break
        vals.append(tok)
    if not vals:
        raise UsageError(f"{flag}: needs at least one number")
    return vals


def _missing(flag: str, n: int) -> list[str]:
    raise UsageError(f"{flag}: needs {n} value{'s' if n > 1 else ''}")


def _load_header(st: State, flag: str, path: str, is_mask: bool) -> None:
    """nanoBragg's reading of an SMV header into the geometry (before the flags)."""
    from .io.smv import header_value, read_smv

    try:
        img = read_smv(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag}: {e}") from None
    height, width = img.data.shape
    source = f"{flag} {path}"
    st.assign("detector.detpixels_f", width, source)
    st.assign("detector.detpixels_s", height, source)
    # The pixel size first: a mask's beam centre is flipped with it.
    keys = sorted(HEADER_FIELDS, key=lambda k: k != "PIXEL_SIZE")
    for key in keys:
        setting, target = HEADER_FIELDS[key]
        x = header_value(img.header, key)
        if math.isnan(x):
            continue
        if key == "BEAM_CENTER_Y" and is_mask:
            # A mask's header flips Y about the detector's slow size; an image's does not (Q28).
            x = (st.run.config.detector.pixel_size_mm / 1000.0 * height - x / 1000.0) * 1000.0
        st.assign(target, x, f"{source} (header {key}={x:g})")
        for also, const in setting.also:
            if also.startswith("beam.energy"):
                st.assign(also, const, source)


def parse_args(tokens: Sequence[str], command: str = "nanobragg", positional: int = 0) -> Run:
    """Translate nanoBragg command-line tokens (without the program name) into a Run.

    ``command`` selects the flags accepted (see :data:`.schema.COMMANDS`); up to
    ``positional`` tokens that are no flag's values are kept in ``Run.positional``.
    """
    tokens = list(tokens)
    run = Run()
    st = State(run)
    # Header files first, as the reference does: the mask's, then the image's; flags override.
    for want, is_mask in (("-mask", True), ("-img", False)):
        if command not in BY_FLAG[want].commands:
            continue
        for i, tok in enumerate(tokens[:-1]):
            if tok == want:
                _load_header(st, want, existing_file(want, tokens[i + 1]), is_mask)
    if command in BY_FLAG["-panels"].commands and {"-panels", "-expt", "-geom"} & set(tokens):
        # Detector files too: the flags override what they say (beam, spindle, crystal).
        from .panels.inputs import load_detector_files

        load_detector_files(st, tokens, UsageError)
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        setting = BY_FLAG.get(flag)
        if setting is None:
            if flag.startswith("-") and flag != "-" and not values.is_number(flag):
                raise UsageError(f"{flag}: unknown flag (see nanobragg{'' if command == 'nanobragg' else ' ' + command} -h)")
            if len(run.positional) < positional:
                run.positional.append(flag)
                i += 1
                continue
            if positional:
                raise UsageError(f"{flag}: one input file only ({run.positional[0]} given already)")
            raise UsageError(f"'{flag}': a value without a flag")
        if command not in setting.commands:
            if command == "dataset":
                raise UsageError(
                    f"{flag}: not used by 'nanobragg dataset', which writes NAME_* files (see -out, -format)"
                )
            raise UsageError(f"{flag}: only for 'nanobragg {setting.commands[0]}'")
        vals = _take(setting, flag, tokens[i + 1 :])
        st.apply(setting, flag, vals)
        i += 1 + len(vals)
    _finish(st)
    return run


def _finish(st: State) -> None:
    cfg = st.run.config
    if cfg.detector.convention != "custom":
        for path in CUSTOM_ONLY:
            section, _, name = path.partition(".")
            setattr(getattr(cfg, section), name, None)
    elif st.pix0_in_mm and cfg.fix_quirks and cfg.detector.pix0_vector_m is not None:
        # -pix0_vector_mm is millimetres in the corrected mode; the reference (default mode)
        # reads it as -pix0_vector, in metres, and its values change nothing there (Q16).
        x, y, z = cfg.detector.pix0_vector_m
        cfg.detector.pix0_vector_m = (x / 1000.0, y / 1000.0, z / 1000.0)
