"""Structure factors: h k l F entries, read from text files, nanoBragg's Fdump.bin cache, or (with
gemmi, :mod:`nanobragg_rs.reflections`) MTZ, SF-mmCIF and atomic models expanded to P1."""

from __future__ import annotations

import os

from . import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    import numpy as np


class StructureFactors:
    """Amplitudes F at Miller indices (h, k, l), in the P1 unit cell; no symmetry is applied.

    Either ``indices``/``amplitudes`` entries (grid points without an entry get the crystal's
    ``default_F``), or a dense grid read from an Fdump.bin cache (``from_fdump``), which keeps
    the fill value it was written with, as nanoBragg does. A table read from a text file stays
    in the compiled core (no numpy) until ``indices`` or ``amplitudes`` is asked for.
    """

    def __init__(
        self,
        indices: np.ndarray | None = None,
        amplitudes: np.ndarray | None = None,
        source: str | None = None,
        cell: tuple[float, float, float, float, float, float] | None = None,
        space_group: str | None = None,
        read_options: dict[str, Any] | None = None,
        _grid: _core.HklTable | None = None,
        _entries: _core.HklEntries | None = None,
    ) -> None:
        self.source = source
        #: The unit cell (a, b, c in Å; α, β, γ in degrees) and space group of the file the
        #: amplitudes came from, where it says (MTZ, mmCIF, models); ``None`` for P1 text tables.
        self.cell = cell
        self.space_group = space_group
        #: How :meth:`load` read ``source`` (its keyword arguments), so it can be read again.
        self.read_options = read_options
        self._grid = _grid
        self._entries = _entries
        self._tables: dict[float, _core.HklTable] = {}
        self._indices: np.ndarray | None = None
        self._amplitudes: np.ndarray | None = None
        if _grid is None and _entries is None:
            if indices is None or amplitudes is None:
                raise ValueError("give indices and amplitudes, or use StructureFactors.from_fdump")
            import numpy as np

            self._indices = _miller_indices(indices)
            self._amplitudes = np.ascontiguousarray(amplitudes, dtype=np.float64).reshape(-1)
            bad = ~np.isfinite(self._amplitudes)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"amplitude {i} is {self._amplitudes[i]}: amplitudes must be finite numbers")
            if len(self._indices) != len(self._amplitudes):
                raise ValueError(
                    f"{len(self._indices)} index triples but {len(self._amplitudes)} amplitudes"
                )

    def __repr__(self) -> str:
        return f"StructureFactors(source={self.source!r})"

    def _arrays(self) -> None:
        if self._indices is None and self._entries is not None:
            self._indices, self._amplitudes = self._entries.arrays()

    @property
    def indices(self) -> np.ndarray | None:
        """Miller indices, int32 (N, 3); None for an Fdump.bin grid."""
        self._arrays()
        return self._indices

    @property
    def amplitudes(self) -> np.ndarray | None:
        """Amplitudes, float64 (N,); None for an Fdump.bin grid."""
        self._arrays()
        return self._amplitudes

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StructureFactors:
        """Read an ``h k l F`` text file (blank lines and ``#`` comments are skipped)."""
        return cls(source=os.fspath(path), _entries=_core.HklEntries.read(os.fspath(path)))

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: Any) -> StructureFactors:
        """Read any structure-factor file, told apart by content: an ``h k l F`` text table (as
        :meth:`read`), an MTZ or SF-mmCIF file, or a model (PDB or mmCIF coordinates).

        ``options`` go to :func:`nanobragg_rs.reflections.read_reflections` (``column``,
        ``dmin_A``, ``ksol``, ``bsol``, ``wavelength_A``); a text table takes none.
        """
        from . import reflections

        if reflections.file_kind(path) == "text":
            if any(v is not None for v in options.values()):
                given = ", ".join(k for k, v in options.items() if v is not None)
                raise ValueError(f"{os.fspath(path)}: an h k l F text table takes no {given}")
            return cls.read(path)
        r = reflections.read_reflections(path, **options)
        return cls(
            r.indices,
            r.amplitudes,
            source=r.source,
            cell=r.cell,
            space_group=r.space_group,
            read_options=options,
        )

    @classmethod
    def from_mtz(cls, path: str | os.PathLike[str], column: str | None = None) -> StructureFactors:
        """An MTZ file's amplitudes expanded to P1 (:func:`nanobragg_rs.reflections.read_mtz`)."""
        return cls.load(path, column=column)

    @classmethod
    def from_cif(cls, path: str | os.PathLike[str], column: str | None = None) -> StructureFactors:
        """An SF-mmCIF file's amplitudes expanded to P1 (:func:`nanobragg_rs.reflections.read_sf_cif`)."""
        return cls.load(path, column=column)

    @classmethod
    def from_model(
        cls,
        path: str | os.PathLike[str],
        dmin_A: float,
        *,
        ksol: float | None = None,
        bsol: float | None = None,
        wavelength_A: float | None = None,
    ) -> StructureFactors:
        """Amplitudes computed from a model to ``dmin_A`` (:func:`nanobragg_rs.reflections.from_model`)."""
        return cls.load(path, dmin_A=dmin_A, ksol=ksol, bsol=bsol, wavelength_A=wavelength_A)

    def write_hkl(self, path: str | os.PathLike[str]) -> None:
        """Write the entries as the ``h k l F`` text nanoBragg.c reads, to the same doubles."""
        from .reflections import write_hkl_text

        if self.indices is None or self.amplitudes is None:
            raise ValueError("a table read from Fdump.bin has no entries to write")
        write_hkl_text(path, self.indices, self.amplitudes)

    @classmethod
    def from_fdump(cls, path: str | os.PathLike[str]) -> StructureFactors:
        """Read nanoBragg's binary Fdump.bin cache."""
        return cls(source=os.fspath(path), _grid=_core.HklTable.read_fdump(os.fspath(path)))

    def table(self, default_F: float) -> _core.HklTable:
        """The dense table the renderer uses, with ``default_F`` on unlisted grid points."""
        if self._grid is not None:
            return self._grid
        if default_F not in self._tables:
            if self._entries is not None:
                self._tables[default_F] = self._entries.table(default_F)
            else:
                assert self._indices is not None and self._amplitudes is not None
                self._tables[default_F] = _core.HklTable.from_arrays(
                    self._indices, self._amplitudes, default_F
                )
        return self._tables[default_F]

    def write_fdump(self, path: str | os.PathLike[str], default_F: float) -> None:
        """Write the table as nanoBragg's Fdump.bin cache."""
        from .io.atomic import atomic_path

        # Staged as any other output, so it joins a command's output set (all or nothing).
        with atomic_path(path) as tmp:
            self.table(default_F).write_fdump(tmp)


def _miller_indices(indices: object) -> np.ndarray:
    """(n, 3) int32 Miller indices; values that are not integers or do not fit are refused."""
    import numpy as np

    raw = np.asarray(indices)
    if raw.size % 3:
        raise ValueError(f"indices: {raw.size} values are not (h, k, l) triples")
    if raw.dtype.kind not in "iub":
        if raw.dtype.kind != "f":
            raise ValueError(f"indices: integers expected, not {raw.dtype}")
        whole = np.isfinite(raw) & (raw == np.round(raw))
        if not whole.all():
            i = int(np.argmax(~whole.reshape(-1)))
            raise ValueError(f"indices: {raw.reshape(-1)[i]} is not an integer")
    limit = np.iinfo(np.int32)
    if raw.size and (raw.min() < limit.min or raw.max() > limit.max):
        raise ValueError(f"indices: {raw.min() if raw.min() < limit.min else raw.max()} does not fit a 32-bit index")
    return np.ascontiguousarray(raw, dtype=np.int32).reshape(-1, 3)
