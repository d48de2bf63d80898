"""Outputs, all or nothing: the protocol of ``nanobragg_core::io`` (rust/core/src/io.rs),
which both the Rust and the Python writers go through.

Every output is written to a temporary file first: a hidden name beside the user's file
(derived from it, within the 255-byte name limit), or, for a target that is not a regular
file (``/dev/null``, a FIFO), a temporary in the system's temporary folder whose bytes are
written through at the end, never replacing the target. Inside ``with outputs():`` (a whole
command) every output joins one set, put in place only when the block ends without error;
outside one, each write is a set of its own. On any failure, Ctrl-C or termination, every
temporary is removed and the user's files stay as they were. Errors name the user's file,
never the temporary one.
"""

from __future__ import annotations

import contextvars
import itertools
import os

from .. import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, BinaryIO, TypeVar

    T = TypeVar("T")

_ACTIVE: contextvars.ContextVar[_core.Outputs | None] = contextvars.ContextVar("nanobragg_outputs", default=None)


class outputs:
    """Stage every output written inside the block (by this thread, or by functions run with
    :func:`in_this_set`); put them all in place when the block ends without error, else
    remove every temporary."""

    # A class, not a contextlib generator: contextlib (with functools and collections) is
    # a tenth of a plain command's start-up.
    def __enter__(self) -> _core.Outputs:
        self._staged = _core.Outputs()
        self._token = _ACTIVE.set(self._staged)
        return self._staged

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                try:
                    self._staged.commit()
                finally:
                    self._staged.discard()
            else:
                self._staged.discard()
        finally:
            _ACTIVE.reset(self._token)


def active() -> _core.Outputs | None:
    """The output set of the block running now (:func:`outputs`), if any."""
    return _ACTIVE.get()


def in_this_set(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the current output set, for running on another thread."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(fn, *args, **kwargs)


def _naming(e: BaseException, tmp: str, target: str) -> BaseException:
    """``e`` with the temporary's name replaced by the user's."""
    if isinstance(e, OSError) and e.filename in (None, tmp) and e.errno is not None:
        return type(e)(e.errno, e.strerror, target)
    text = str(e)
    if tmp in text or os.path.basename(tmp) in text:
        text = text.replace(tmp, target).replace(os.path.basename(tmp), os.path.basename(target))
        try:
            return type(e)(text)
        except Exception:  # an exception type that wants other arguments: keep it as it is
            return e
    return e


class atomic_path:
    """A temporary name standing for ``path``, for a writer that opens files by name.

    The block writes and closes the file. Inside :func:`outputs` the file joins the command's
    set; otherwise it replaces ``path`` when the block ends. On any failure the temporary file
    is removed and ``path`` is untouched; errors name ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._target = os.fspath(path)

    def __enter__(self) -> str:
        self._shared = _ACTIVE.get()
        self._staged = self._shared if self._shared is not None else _core.Outputs()
        self._tmp = self._staged.stage(self._target)
        return self._tmp

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is not None:
            if self._shared is None:
                self._staged.discard()
            renamed = _naming(error, self._tmp, self._target)
            if renamed is not error:
                raise renamed from None
            return
        if self._shared is None:
            try:
                self._staged.commit()
            finally:
                self._staged.discard()


class atomic_open:
    """Open a temporary file standing for ``path`` for writing (see :func:`atomic_path`)."""

    # No fsync: the rename after a complete write is what keeps readers from a partial file;
    # syncing to disk (which the reference does not do either) cost up to 10 ms.
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = atomic_path(path)

    def __enter__(self) -> BinaryIO:
        tmp = self._path.__enter__()
        try:
            # "r+b", not "wb": the temporary is new and empty, and a truncation (O_TRUNC) makes
            # ext4 start writing the file out at close.
            self._file = open(tmp, "r+b")
        except BaseException as e:
            self._path.__exit__(type(e), e, e.__traceback__)
            raise
        return self._file

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._file.close()
        except BaseException as e:
            if error is None:  # a failed close (a full disk) fails the write
                self._path.__exit__(type(e), e, e.__traceback__)
                raise
        self._path.__exit__(kind, error, tb)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` (see :func:`atomic_path`)."""
    with atomic_open(path) as f:
        f.write(data)


def write_all(files: list[tuple[str, bytes]]) -> None:
    """Write every ``(path, data)`` or none: one output set (joining the command's, if one is
    open). A later file of the same name replaces an earlier one."""
    with outputs():
        for path, data in dict(files).items():
            write_atomic(path, data)


class hdf5_output:
    """An HDF5 file (``h5py.File``) built in memory inside the block, then written as any other
    output (see :func:`atomic_path`). HDF5 never writes to the disk itself, so a full disk is
    an ordinary ``OSError`` naming ``path``: HDF5's own error path after a failed write raises
    from its destructors and can crash the process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path

    def __enter__(self) -> Any:
        import h5py  # type: ignore[import-untyped]

        # A name of its own per file: HDF5 refuses to open one name twice in a process.
        name = f"{os.path.basename(os.fspath(self._path))}.{next(_MEMORY_NAMES)}"
        self._h5 = h5py.File(name, "w", driver="core", backing_store=False)
        return self._h5

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if error is None:
                self._h5.flush()
                image = self._h5.id.get_file_image()
        finally:
            self._h5.close()
        if error is None:
            write_atomic(self._path, image)


_MEMORY_NAMES = itertools.count()


def write_hdf5(path: str | os.PathLike[str], fill: Callable[[Any], None]) -> None:
    """Write an HDF5 file that ``fill(h5file)`` builds (see :func:`hdf5_output`)."""
    with hdf5_output(path) as h5:
        fill(h5)


def temporary_of(entry: str) -> str | None:
    """The kept part of the user's file name if ``entry`` is the name of one of the protocol's
    temporaries (a name shortened to fit ends with ``~`` and 8 hex digits), else None."""
    return _core.temporary_of(entry)
