"""What a structure-factor file holds, told from its first bytes: cheap enough for the
command line, which reads plain ``h k l F`` tables without numpy or gemmi
(:mod:`nanobragg_rs.reflections` reads the rest)."""

from __future__ import annotations

import os


class ReflectionFileError(ValueError):
    """A reflection or model file that cannot be used, with the file's name in the message."""


def file_kind(path: str | os.PathLike[str]) -> str:
    """What a structure-factor file holds, told from its content, not its name.

    ``"mtz"``, ``"sf-cif"`` (reflections in mmCIF), ``"model"`` (PDB or mmCIF coordinates) or
    ``"text"`` (nanoBragg's ``h k l F``).
    """
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:4] == b"MTZ ":
        return "mtz"
    text = head.decode("latin-1")
    if "_refln." in text or "_refln_" in text:
        return "sf-cif"
    if "_atom_site." in text:
        return "model"
    for line in text.splitlines():
        if line[:6] in ("ATOM  ", "HETATM", "CRYST1"):
            return "model"
    return "text"
