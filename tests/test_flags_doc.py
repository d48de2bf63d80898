"""docs/flags.md is generated from the schema, and the schema is what the parser reads."""

from __future__ import annotations

import pathlib
import re

from nanobragg_rs.args import FLAGS
from nanobragg_rs.cli import usage
from nanobragg_rs.dataset.cli import usage as dataset_usage
from nanobragg_rs.schema import BY_FLAG, SETTINGS, flags_markdown, flags_of

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "flags.md"


def test_committed_flags_md_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == flags_markdown(), "run: python docs/gen_flags.py"


def test_every_flag_is_documented() -> None:
    documented = set(re.findall(r"`(-[A-Za-z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    assert set(BY_FLAG) - documented == set(), "undocumented flags"
    assert documented - set(BY_FLAG) == set(), "documented flags the parser rejects"


def test_help_lists_every_flag_with_its_default() -> None:
    text = usage()
    words = set(text.split())
    assert FLAGS <= words | {f for s in SETTINGS if len(s.flags) > 3 for f in s.flags[3:]}
    for s in SETTINGS:
        if "nanobragg" in s.commands and s.default and not s.hidden:
            assert f"(default: {s.default})" in text, s.name
    assert "nanobragg compare" in text and "nanobragg dataset" in text
    ds = dataset_usage()
    for flag in flags_of("dataset") - flags_of("nanobragg"):
        assert flag in ds.split(), flag
    assert "-floatfile" not in ds.split(), "single-image outputs are refused by dataset"


def test_every_setting_has_a_doc_and_a_target() -> None:
    for s in SETTINGS:
        assert s.doc and s.flags
        assert s.to or s.action, s.name
