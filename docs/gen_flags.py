"""Write docs/flags.md from the schema: ``python docs/gen_flags.py`` (``--check`` to compare)."""

from __future__ import annotations

import pathlib
import sys

from nanobragg_rs.schema import flags_markdown

DOC = pathlib.Path(__file__).resolve().parent / "flags.md"

if __name__ == "__main__":
    text = flags_markdown()
    if "--check" in sys.argv[1:]:
        if DOC.read_text(encoding="utf-8") != text:
            sys.exit(f"{DOC} is out of date: run python docs/gen_flags.py")
    else:
        DOC.write_text(text, encoding="utf-8")
