"""docs/flags.md lists every flag the parser accepts, and no flag it rejects."""

from __future__ import annotations

import pathlib
import re

from nanobragg_rs.args import FLAGS

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "flags.md"


def test_every_flag_is_documented() -> None:
    documented = set(re.findall(r"`(-[A-Za-z0-9_]+)`", DOC.read_text()))
    assert FLAGS - documented == set(), "undocumented flags"
    assert documented - FLAGS == set(), "documented flags the parser rejects"
