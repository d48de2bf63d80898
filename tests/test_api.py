"""The Python API: configuration objects, their schema shared with the core, and rendering."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import Config, ConfigError, Simulator, StructureFactors, _core, config_from_args, render
from nanobragg_rs.config import DATA_FIELDS


def small() -> Config:
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 100
    cfg.crystal.n_cells = (5, 5, 5)
    cfg.detector.detpixels_f = 48
    cfg.detector.detpixels_s = 40
    cfg.detector.pixel_size_mm = 0.2
    cfg.detector.distance_mm = 80
    return cfg


def test_python_schema_matches_the_core() -> None:
    """Every field and default of the Python dataclasses is the core's, and no more."""
    core = _lists(_core.default_config())
    ours = Config().to_dict()
    assert ours.keys() == core.keys()
    for section in core:
        if isinstance(core[section], dict):
            assert ours[section].keys() == core[section].keys(), section
            for key, value in core[section].items():
                mine = ours[section][key]
                assert mine == value, f"{section}.{key}: python {mine!r} core {value!r}"
        else:
            assert ours[section] == core[section]


def _lists(x: object) -> object:
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    return x


def test_round_trip_through_plain_data() -> None:
    cfg = small()
    cfg.sampling.spindle_axis = (1.0, 0.0, 0.0)
    cfg.detector.convention = "custom"
    back = Config.from_dict(cfg.to_dict())
    assert back.to_dict() == cfg.to_dict()
    assert Config.from_dict(__import__("json").loads(cfg.to_json())).to_dict() == cfg.to_dict()


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(ConfigError, match="distanse_mm"):
        Config.from_dict({"detector": {"distanse_mm": 3}})
    with pytest.raises(ConfigError, match="distanse_mm"):
        _core.validate_config({"detector": {"distanse_mm": 1}})


def test_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^detector\.pixel_size_mm"):
        small().replace(**{"detector.pixel_size_mm": -1}).validate()
    with pytest.raises(ConfigError, match="default_F"):
        small().replace(**{"crystal.default_F": 0.0}).validate()
    with pytest.raises(ConfigError, match="spindle_axis"):
        Simulator(small().replace(**{"sampling.spindle_axis": (0.0, 0.0, 0.0)}))


def test_custom_only_vectors_need_the_custom_convention() -> None:
    with pytest.raises(ConfigError, match="custom"):
        small().replace(**{"sampling.spindle_axis": (1.0, 0.0, 0.0)}).validate()


def test_render_shape_dtype_and_positivity() -> None:
    img = render(small())
    assert img.shape == (40, 48) and img.dtype == np.float32
    assert (img >= 0).all() and img.max() > 0


def test_api_equals_cli(tmp_path: pathlib.Path) -> None:
    args = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-pixel", "0.2",
            "-distance", "80", "-detpixels_f", "48", "-detpixels_s", "40", "-nonoise", "-noprogress"]
    res = run_cli(args, tmp_path, inputs=None)
    assert res.returncode == 0
    cli_img = res.read_float("floatimage.bin", (40, 48))
    assert np.array_equal(render(small()), cli_img)
    assert np.array_equal(render(config_from_args(args)), cli_img)


def test_structure_factors_from_arrays_and_file(tmp_path: pathlib.Path) -> None:
    idx = np.array([[h, k, l] for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)])
    amp = np.linspace(1, 50, len(idx))
    (tmp_path / "t.hkl").write_text("".join(f"{h} {k} {l} {float(f)!r}\n" for (h, k, l), f in zip(idx, amp)))
    from_file = StructureFactors.read(tmp_path / "t.hkl")
    assert np.array_equal(from_file.indices, idx) and np.array_equal(from_file.amplitudes, amp)
    cfg = small()
    cfg.crystal.default_F = 0.0
    cfg.crystal.structure_factors = from_file
    a = render(cfg)
    cfg.crystal.structure_factors = StructureFactors(idx, amp)
    assert np.array_equal(render(cfg), a)
    from_file.write_fdump(tmp_path / "Fdump.bin", 0.0)
    cfg.crystal.structure_factors = StructureFactors.from_fdump(tmp_path / "Fdump.bin")
    assert np.array_equal(render(cfg), a)


def test_mask_zeroes_pixels() -> None:
    cfg = small()
    full = render(cfg)
    mask = np.ones((40, 48), dtype=np.uint16)
    mask[10:20, 5:30] = 0
    cfg.detector.mask = mask
    masked = render(cfg)
    assert np.array_equal(masked[mask == 1], full[mask == 1])
    assert (masked[mask == 0] == 0).all()


def test_data_fields_are_not_configuration() -> None:
    names = {f.name for section in ("crystal", "detector") for f in dataclasses.fields(getattr(Config(), section))}
    assert DATA_FIELDS <= names
    assert not (DATA_FIELDS & set(small().to_dict()["crystal"]) | DATA_FIELDS & set(small().to_dict()["detector"]))
