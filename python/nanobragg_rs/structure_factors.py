"""Structure factors: h k l F entries, read from text files or nanoBragg's Fdump.bin cache."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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
        from .io.atomic import atomic_path

        # Staged as any other output, so it joins a command's output set (all or nothing).
        with atomic_path(path) as tmp:
            self.table(default_F).write_fdump(tmp)
