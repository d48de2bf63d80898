"""What a data set's driver knows about its files: the ledger of finished frame files (size
and SHA-256 of each, so a file damaged or truncated since is found and rendered again) and the
lock that keeps a second driver out of the same data set.

``NAME_ledger.tsv`` has one line per finished frame file, ``file<TAB>size<TAB>sha256``,
appended as each file is finished (a line cut short by a crash is ignored), and rewritten in
file order once the data set is complete. ``NAME.lock`` is held (an OS file lock, released
by the OS if the driver dies, so a stale lock from a dead process is simply taken over)
while a driver runs, and removed when it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterable, Iterator

from ..io import atomic
from .plan import PlanError


def ledger_file(out: str) -> str:
    return f"{out}_ledger.tsv"


def lock_file(out: str) -> str:
    return f"{out}.lock"


def file_record(path: str) -> tuple[int, str]:
    """(size, SHA-256) of the file at ``path``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


class Ledger:
    """The finished frame files of data set ``out`` with their sizes and checksums."""

    def __init__(self, out: str) -> None:
        self.path = ledger_file(out)
        self.folder = os.path.dirname(out)
        self.records: dict[str, tuple[int, str]] = {}
        with contextlib.suppress(FileNotFoundError):
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.rstrip("\n").split("\t")
                    if line.endswith("\n") and len(fields) == 3 and fields[1].isdigit() and len(fields[2]) == 64:
                        self.records[fields[0]] = (int(fields[1]), fields[2])

    def record(self, files: dict[str, tuple[int, str]]) -> None:
        """Note finished files (base names) with their (size, SHA-256)."""
        if not files:
            return
        self.records.update(files)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(f"{name}\t{size}\t{digest}\n" for name, (size, digest) in files.items()))

    def check(self, path: str) -> str | None:
        """None if the file at ``path`` is whole (as the ledger has it); else why not."""
        name = os.path.basename(path)
        known = self.records.get(name)
        if known is None:
            return "not in the ledger (its writer stopped before noting it)"
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return "missing"
        if size != known[0]:
            return f"{size} bytes, {known[0]} when written"
        if file_record(path)[1] != known[1]:
            return "its SHA-256 differs from when it was written"
        return None

    def rewrite(self, names: Iterable[str]) -> None:
        """Rewrite the ledger with the records of ``names``, in that order."""
        lines = (f"{n}\t{self.records[n][0]}\t{self.records[n][1]}\n" for n in names if n in self.records)
        with atomic.atomic_open(self.path) as f:
            for line in lines:
                f.write(line.encode())

    def clear(self) -> None:
        self.records.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@contextlib.contextmanager
def dataset_lock(out: str) -> Iterator[None]:
    """Hold ``NAME.lock`` for the block; a second driver of the same data set fails at once
    with a PlanError saying who holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock
        yield
        return
    path = lock_file(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise PlanError(
                f"{out}: another nanobragg dataset is writing this data set ({holder}; lock {path}); "
                "wait for it to finish or stop it"
            ) from None
        # Locked; but if the holder before us removed the file meanwhile, ours is stale.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
