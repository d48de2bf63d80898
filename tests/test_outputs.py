"""Outputs, all or nothing: long names, devices and FIFOs written through, symbolic links
followed, a full disk on every writer, SIGTERM and SIGHUP, and Ctrl-C at any moment."""

from __future__ import annotations

import os
import pathlib
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import _core
from nanobragg_rs.io import atomic, read_smv

SMALL = [
    "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "3",
    "-detpixels", "32", "-pixel", "0.3", "-distance", "70", "-oversample", "1", "-seed", "7", "-noprogress",
]  # fmt: skip
ONLY_FLOAT = [*SMALL, "-nonoise", "-nopgm", "-intfile", "/dev/null"]


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- names ---------------------------------------------------------------------------------


def test_temporary_names_fit_the_limit_and_keep_the_users_name() -> None:
    assert _core.temporary_name("float.bin", "0123abcd") == ".float.bin.0123abcd.tmp"
    for n in (200, 241, 242, 250, 255):
        name = "n" * n
        tmp = _core.temporary_name(name, "0123abcd")
        assert len(tmp.encode()) <= 255 and tmp.startswith("." + "n" * 200), n
        assert atomic.temporary_of(tmp) is not None
    assert len(_core.temporary_name("é" * 127, "0123abcd").encode()) <= 255
    assert atomic.temporary_of("float.bin") is None and atomic.temporary_of(".a.tmp") is None


def test_a_250_character_name_works_for_every_output(tmp_path: pathlib.Path) -> None:
    stem = "x" * 246
    names = {f"{stem}.{ext}" for ext in ("bin", "img", "pgm", "noi")} | {f"{stem}.h5"}
    args = [*SMALL, "-floatfile", f"{stem}.bin", "-intfile", f"{stem}.img", "-pgmfile", f"{stem}.pgm",
            "-noisefile", f"{stem}.noi", "-h5file", f"{stem}.h5"]  # fmt: skip
    res = run_cli(args, tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert set(_files(tmp_path)) == names
    assert (tmp_path / f"{stem}.bin").stat().st_size == 32 * 32 * 4
    assert read_smv(tmp_path / f"{stem}.img").data.shape == (32, 32)


def test_errors_name_the_users_file_not_the_temporary(tmp_path: pathlib.Path) -> None:
    (tmp_path / "out").mkdir()
    res = run_cli([*ONLY_FLOAT, "-floatfile", "missing/f.bin"], tmp_path, inputs=None)
    assert res.returncode == 2
    assert res.stderr.startswith("nanobragg: error: missing/f.bin: ") and ".tmp" not in res.stderr
    res = run_cli([*ONLY_FLOAT, "-floatfile", "out"], tmp_path, inputs=None)
    assert res.returncode == 2 and res.stderr.startswith("nanobragg: error: out: is a folder"), res.stderr
    assert _files(tmp_path) == ["out"] and _files(tmp_path / "out") == []


# --- targets that are not regular files ----------------------------------------------------


def test_dev_null_is_written_through_not_replaced(tmp_path: pathlib.Path) -> None:
    before = os.stat("/dev/null")
    res = run_cli([*SMALL, "-floatfile", "/dev/null", "-intfile", "/dev/null", "-noisefile", "/dev/null",
                   "-pgmfile", "/dev/null", "-h5file", "/dev/null"], tmp_path, inputs=None)  # fmt: skip
    assert res.returncode == 0, res.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert _files(tmp_path) == []


def test_a_fifo_receives_the_bytes_and_stays_a_fifo(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    res = run_cli([*ONLY_FLOAT, "-floatfile", "pipe"], tmp_path, inputs=None)
    reader.join(timeout=30)
    assert res.returncode == 0, res.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(received[0]) == 32 * 32 * 4 and np.frombuffer(received[0], "<f4").any()
    assert _files(tmp_path) == ["pipe"]


def test_a_symbolic_link_is_followed_and_kept(tmp_path: pathlib.Path) -> None:
    (tmp_path / "data").mkdir()
    os.symlink("data/real.bin", tmp_path / "link.bin")
    res = run_cli([*ONLY_FLOAT, "-floatfile", "link.bin"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "link.bin").is_symlink()
    assert (tmp_path / "data" / "real.bin").stat().st_size == 32 * 32 * 4


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A tmpfs of 64 KiB, nearly filled; skips where mounting is not permitted."""
    folder = tmp_path / "full"
    folder.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                         capture_output=True, text=True)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({res.stderr.strip() or 'mount failed'})")
    try:
        (folder / "filler").write_bytes(b"\0" * (60 * 1024))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


WRITERS = {
    "float": ["-floatfile", "full/out", "-nonoise", "-nopgm"],
    "smv": ["-intfile", "full/out", "-nonoise", "-nopgm"],
    "noise": ["-noisefile", "full/out", "-nopgm"],
    "pgm": ["-pgmfile", "full/out", "-nonoise"],
    "hdf5": ["-h5file", "full/out", "-nonoise", "-nopgm"],
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(
    writer: str, full_disk: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    args = [*SMALL, "-detpixels", "128", "-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img",
            "-pgmfile", "p.pgm", *WRITERS[writer]]  # fmt: skip
    res = run_cli(args, tmp_path, inputs=None)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("nanobragg: error: full/out: No space left on device"), res.stderr
    assert res.stderr.count("\n") == 1 and ".tmp" not in res.stderr
    assert _files(tmp_path) == ["full"]  # none of the other outputs either
    assert _files(full_disk) == ["filler"]


@pytest.mark.parametrize("fmt", ["nxmx", "smv", "cbf"])
def test_a_full_disk_stops_a_data_set_with_one_line(fmt: str, full_disk: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from test_dataset import SERIES

    (full_disk / "filler").write_bytes(b"\0" * (56 * 1024))  # room for the plan, not the frames
    args = ["dataset", "-noprogress", *SERIES, "-detpixels", "64", "-frames", "3", "-format", fmt, "-out", "full/ds"]
    res = run_cli(args, tmp_path, inputs=None)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and ".tmp" not in lines[0], res.stderr
    assert lines[0].startswith(f"nanobragg dataset: error: {full_disk}/ds_"), lines[0]
    assert not [p for p in full_disk.iterdir() if p.name.endswith(".tmp")]


# --- signals -----------------------------------------------------------------------------------

LONG = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "10", "-detpixels", "3072",
        "-pixel", "0.05", "-oversample", "8", "-mosaic", "0.1", "-mosaic_dom", "10", "-noprogress"]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_end_by_the_signal(sig: signal.Signals, tmp_path: pathlib.Path) -> None:
    (tmp_path / "floatimage.bin").write_bytes(b"earlier")
    proc = subprocess.Popen([sys.executable, "-m", "nanobragg_rs", *LONG], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # the setup is printed: the command is running, the render starts
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -sig, err
    assert time.monotonic() - started < 5
    assert err == f"nanobragg: interrupted ({sig.name})\n"
    assert _files(tmp_path) == ["floatimage.bin"] and (tmp_path / "floatimage.bin").read_bytes() == b"earlier"


RACE = """
import signal, sys
import numpy as np
from nanobragg_rs import Config, Simulator
cfg = Config()
cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
cfg.crystal.default_F = 100
cfg.detector.detpixels_f = cfg.detector.detpixels_s = 8
sim = Simulator(cfg)
# The first render of the process: a signal arrives while it runs (its handler raises at the
# first Python code run afterwards, which was numpy's version check inside rust-numpy).
armed = [True]


def interrupt(*_):
    if armed[0]:
        raise KeyboardInterrupt


signal.signal(signal.SIGALRM, interrupt)
outcome = "rendered"
try:
    signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
    sim.render(threads=1)
    armed[0] = False
except KeyboardInterrupt:
    outcome = "interrupted"
armed[0] = False
signal.setitimer(signal.ITIMER_REAL, 0)  # no alarm after the handler is gone at exit
print(outcome)
"""


def test_ctrl_c_as_a_render_starts_or_ends_is_a_keyboard_interrupt_not_a_panic() -> None:
    outcomes = set()
    for delay in (1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3):
        res = subprocess.run([sys.executable, "-c", RACE, str(delay)], capture_output=True, text=True, timeout=60)
        assert "capsule" not in res.stderr and "Panic" not in res.stderr, res.stderr
        assert res.returncode == 0 and res.stdout.strip() in ("rendered", "interrupted"), res.stderr
        outcomes.add(res.stdout.strip())
    assert outcomes  # each run either finished or was interrupted, cleanly
