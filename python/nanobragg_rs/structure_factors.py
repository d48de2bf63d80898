"""Structure factors: h k l F entries, read from text files, nanoBragg's Fdump.bin cache, or (with
gemmi, :mod:`nanobragg_rs.reflections`) MTZ, SF-mmCIF and atomic models expanded to P1."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core


@dataclass(eq=False)
class StructureFactors:
    """Amplitudes F at Miller indices (h, k, l), in the P1 unit cell; no symmetry is applied.

    Either ``indices``/``amplitudes`` entries (grid points without an entry get the crystal's
    ``default_F``), or a dense grid read from an Fdump.bin cache (``from_fdump``), which keeps
    the fill value it was written with, as nanoBragg does.
    """

    indices: np.ndarray | None = None
    amplitudes: np.ndarray | None = None
    source: str | None = None
    #: The unit cell (a, b, c in Å; α, β, γ in degrees) and space group of the file the
    #: amplitudes came from, where it says (MTZ, mmCIF, models); ``None`` for P1 text tables.
    cell: tuple[float, float, float, float, float, float] | None = None
    space_group: str | None = None
    #: How :meth:`load` read ``source`` (its keyword arguments), so it can be read again.
    read_options: dict[str, Any] | None = field(default=None, repr=False)
    _grid: _core.HklTable | None = field(default=None, repr=False)
    _tables: dict[float, _core.HklTable] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self._grid is None:
            if self.indices is None or self.amplitudes is None:
                raise ValueError("give indices and amplitudes, or use StructureFactors.from_fdump")
            self.indices = np.ascontiguousarray(self.indices, dtype=np.int32).reshape(-1, 3)
            self.amplitudes = np.ascontiguousarray(self.amplitudes, dtype=np.float64).reshape(-1)
            if len(self.indices) != len(self.amplitudes):
                raise ValueError(
                    f"{len(self.indices)} index triples but {len(self.amplitudes)} amplitudes"
                )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StructureFactors:
        """Read an ``h k l F`` text file (blank lines and ``#`` comments are skipped)."""
        indices, amplitudes = _core.read_hkl(os.fspath(path))
        return cls(indices, amplitudes, source=os.fspath(path))

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
            assert self.indices is not None and self.amplitudes is not None
            self._tables[default_F] = _core.HklTable.from_arrays(
                self.indices, self.amplitudes, default_F
            )
        return self._tables[default_F]

    def write_fdump(self, path: str | os.PathLike[str], default_F: float) -> None:
        """Write the table as nanoBragg's Fdump.bin cache."""
        self.table(default_F).write_fdump(os.fspath(path))
