"""The example inputs ship with the package, and the README's command lines run as written."""

from __future__ import annotations

import pathlib
import re
import shlex

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import examples
from nanobragg_rs.args import parse_args
from nanobragg_rs.inputs import load_inputs, read_matrix
from nanobragg_rs.structure_factors import StructureFactors

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
PACKAGE = pathlib.Path(examples.__file__).resolve().parents[1]


def _commands() -> list[list[str]]:
    """Every ``nanobragg ...`` command in the README's sh blocks, as tokens."""
    text = README.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                tokens = shlex.split(part, comments=True)
                # Commands on the user's own files (YOUR.mtz) or elided ones are not ours to run.
                if tokens[:1] == ["nanobragg"] and "..." not in tokens and not any("YOUR" in t for t in tokens):
                    out.append(tokens[1:])
    return out


def test_shipped_files_are_the_generated_ones(tmp_path: pathlib.Path) -> None:
    examples.generate(str(tmp_path))
    for name in examples.FILES:
        assert (tmp_path / name).read_bytes() == pathlib.Path(examples.path(name)).read_bytes(), name
    m = read_matrix(examples.path("A.mat"))
    a_star = np.array(m).reshape(3, 3)[:, 0]
    assert np.linalg.norm(a_star) == pytest.approx(1 / 40, rel=1e-6)
    sf = StructureFactors.read(examples.path("P1.hkl"))
    assert sf.amplitudes is not None and len(sf.amplitudes) > 1000 and np.isfinite(sf.amplitudes).all()


def test_examples_command_copies_and_refuses_to_overwrite(tmp_path: pathlib.Path) -> None:
    res = run_cli(["examples", "ex"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == sorted(examples.FILES)
    again = run_cli(["examples", "ex"], tmp_path, inputs=None)
    assert again.returncode == 2 and "exists" in again.stderr


def test_readme_commands_parse_with_the_example_files(tmp_path: pathlib.Path) -> None:
    commands = _commands()
    assert any(c[:1] == ["dataset"] for c in commands) and any(c[:1] == ["examples"] for c in commands)
    run_cli(["examples", "."], tmp_path, inputs=None)
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for tokens in commands:
            # Subcommands with parsers of their own are tested in their own files; commands that
            # name the user's own files (YOUR.mtz) have none here.
            if tokens[:1] in (["examples"], ["compare"], ["noisify"], ["nonbragg"]) or any(t.startswith("YOUR") for t in tokens):
                continue
            command = "dataset" if tokens[:1] == ["dataset"] else "nanobragg"
            run = parse_args(tokens[1:] if command == "dataset" else tokens, command=command)
            load_inputs(run)
    finally:
        os.chdir(cwd)


def test_readme_first_command_runs_as_written(tmp_path: pathlib.Path) -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- run-command -->\n```sh\n(.*?)```", text, re.S)
    assert block is not None
    parts = [shlex.split(p) for p in block.group(1).split("&&")]
    assert parts[0][:2] == ["pip", "install"]
    folder = tmp_path
    for tokens in parts[1:]:
        if tokens[0] == "cd":
            folder = folder / tokens[1]
            continue
        assert tokens[0] == "nanobragg"
        res = run_cli(tokens[1:], folder, inputs=None)
        assert res.returncode == 0, res.stderr
    for name in ("floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"):
        assert (folder / name).is_file(), name
    assert "photons on noise image" in res.stdout


def test_package_messages_point_at_no_repository_file() -> None:
    """Help and error texts name no file of the source tree (a pip install has no docs/)."""
    from nanobragg_rs.cli import usage
    from nanobragg_rs.dataset.cli import usage as dataset_usage

    for text in (usage(), dataset_usage()):
        assert "docs/" not in text and "README" not in text
