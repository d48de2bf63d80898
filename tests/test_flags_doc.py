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
    flat = " ".join(text.split())
    assert FLAGS <= words | {f for s in SETTINGS if len(s.flags) > 3 for f in s.flags[3:]}
    for s in SETTINGS:
        if "nanobragg" in s.commands and s.default and not s.hidden:
            assert f"(default: {s.default})" in flat, s.name
    assert "nanobragg compare" in text and "nanobragg dataset" in text
    ds = dataset_usage()
    for flag in flags_of("dataset") - flags_of("nanobragg"):
        assert flag in ds.split(), flag
    assert "-floatfile" not in ds.split(), "single-image outputs are refused by dataset"


def test_every_setting_has_a_doc_and_a_target() -> None:
    for s in SETTINGS:
        assert s.doc and s.flags
        assert s.to or s.action, s.name


def test_shown_defaults_are_the_configuration_defaults() -> None:
    """Where a setting lands in one configuration field, the default it shows is the field's."""
    from nanobragg_rs import Config
    from nanobragg_rs.args import Output
    from nanobragg_rs.values import parse_float

    cfg, out, checked = Config(), Output(), 0
    for s in SETTINGS:
        first = s.default.split()[0] if s.default else ""
        shown = parse_float(first.rstrip(":"))
        if shown is None or not s.to or s.arity == 0:
            continue
        section, _, name = s.to[0].partition(".")
        owner = out if section == "output" else getattr(cfg, section, None)
        if owner is None:
            continue
        value = getattr(owner, name.split("[")[0])
        if isinstance(value, tuple):
            value = value[int(name.split("[")[1].rstrip("]"))] if "[" in name else value[0]
        if value is None:
            continue  # chosen by the core when absent (e.g. -oversample 0: automatic)
        assert float(value) == shown, f"{s.name}: shows {s.default!r}, the field is {value!r}"
        checked += 1
    assert checked > 20


def test_every_configuration_field_has_a_flag_to_blame() -> None:
    """An error about any field of the configuration can name a flag (or input file)."""
    import dataclasses

    from nanobragg_rs import Config
    from nanobragg_rs.schema import FIELD_FLAGS

    cfg = Config()
    for section in ("crystal", "beam", "detector", "sampling"):
        for f in dataclasses.fields(getattr(cfg, section)):
            assert f"{section}.{f.name}" in FIELD_FLAGS, f"{section}.{f.name}"
            assert FIELD_FLAGS[f"{section}.{f.name}"] in BY_FLAG


def test_render_response_flags_are_noisify_s() -> None:
    from nanobragg_rs.noisify import RENDER_FLAGS

    assert {s.name for s in SETTINGS if s.group == "Detector response"} == set(RENDER_FLAGS)
