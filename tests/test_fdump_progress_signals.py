"""The Fdump.bin structure-factor cache, the progress bar, and Ctrl-C during a render."""

from __future__ import annotations

import io
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import GOLDEN, require_golden, run_cli
from nanobragg_rs.console import Progress

BASE = ["-cell", "50", "50", "50", "90", "90", "90", "-N", "5", "-lambda", "1", "-distance", "80",
        "-detpixels", "48", "-pixel", "0.3", "-nonoise", "-nopgm", "-noprogress"]


def test_hkl_run_writes_a_cache_that_a_later_run_reads(tmp_path: pathlib.Path) -> None:
    require_golden()
    first = run_cli(BASE + ["-hkl", "inputs/cubic50.hkl", "-floatfile", "a.bin"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "Fdump.bin").is_file()
    # No -hkl and default_F 0: the cache is the only source of structure factors.
    second = run_cli(BASE + ["-floatfile", "b.bin"], tmp_path)
    assert second.returncode == 0, second.stderr
    a, b = (np.fromfile(tmp_path / n, dtype="<f4") for n in ("a.bin", "b.bin"))
    assert a.any() and np.array_equal(a, b)
    # -dump names the cache.
    third = run_cli(BASE + ["-hkl", "inputs/cubic50.hkl", "-dump", "my.dump", "-floatfile", "c.bin"], tmp_path)
    assert third.returncode == 0 and (tmp_path / "my.dump").read_bytes() == (tmp_path / "Fdump.bin").read_bytes()


def test_cache_header_is_the_references_format(tmp_path: pathlib.Path) -> None:
    (tmp_path / "t.hkl").write_text("-1 0 2 5.5\n3 -2 0 7.25\n")
    assert run_cli(BASE + ["-hkl", "t.hkl", "-default_F", "1"], tmp_path, inputs=None).returncode == 0
    raw = (tmp_path / "Fdump.bin").read_bytes()
    header, _, body = raw.partition(b"\x0c")
    assert header == b"-1 3 -2 0 0 2\n"
    grid = np.frombuffer(body, dtype="<f8").reshape(6, 4, 4)  # ranges + 1 padding plane each
    assert grid[0, 2, 2] == 5.5 and grid[4, 0, 0] == 7.25
    assert grid[1, 1, 1] == 1.0 and grid[5].sum() == 0.0  # default_F fill; the padding stays 0


@pytest.mark.c_binary
def test_cache_is_byte_identical_to_the_references(c_binary: str, tmp_path: pathlib.Path) -> None:
    require_golden()
    ours, ref = tmp_path / "ours", tmp_path / "ref"
    args = BASE + ["-hkl", "inputs/tric.hkl", "-default_F", "3"]
    assert run_cli(args, ours).returncode == 0
    ref.mkdir()
    os.symlink(GOLDEN / "inputs", ref / "inputs")
    subprocess.run([c_binary, *args], cwd=ref, env=dict(os.environ, OMP_NUM_THREADS="1"),
                   check=True, stdout=subprocess.DEVNULL)
    assert (ours / "Fdump.bin").read_bytes() == (ref / "Fdump.bin").read_bytes()


def test_progress_bar_appears_only_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    bar = Progress(200, enabled=True, stream=out)
    bar(50)
    assert out.getvalue() == ""
    clock[0] += 1.5
    bar(100)
    assert "50.0%" in out.getvalue() and out.getvalue().startswith("\rrendering [")
    bar.close()
    assert out.getvalue().endswith("100.0%\n")
    quiet = io.StringIO()
    off = Progress(200, enabled=False, stream=quiet)
    off(100)
    off.close()
    assert quiet.getvalue() == ""


def test_ctrl_c_stops_a_long_render_and_writes_nothing(tmp_path: pathlib.Path) -> None:
    # Several seconds of work on two cores (6e9 pixel-steps); interrupted after it has started.
    args = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "10", "-detpixels", "3072",
            "-pixel", "0.05", "-oversample", "8", "-mosaic", "0.1", "-mosaic_dom", "10", "-nonoise"]
    proc = subprocess.Popen([sys.executable, "-m", "nanobragg_rs", *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 5, "the render must stop promptly"
    assert "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
