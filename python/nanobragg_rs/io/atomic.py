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

import contextlib
import contextvars
import itertools
import os

from .. import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO, TypeVar

    T = TypeVar("T")

_ACTIVE: contextvars.ContextVar[_core.Outputs | None] = contextvars.ContextVar("nanobragg_outputs", default=None)


@contextlib.contextmanager
def outputs() -> Iterator[_core.Outputs]:
    """Stage every output written inside the block (by this thread, or by functions run with
    :func:`in_this_set`); put them all in place when the block ends without error, else
    remove every temporary."""
    staged = _core.Outputs()
    token = _ACTIVE.set(staged)
    try:
        yield staged
    except BaseException:
        staged.discard()
        raise
    else:
        try:
            staged.commit()
        finally:
            staged.discard()
    finally:
        _ACTIVE.reset(token)


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary name standing for ``path``, for a writer that opens files by name.

    The block writes and closes the file. Inside :func:`outputs` the file joins the command's
    set; otherwise it replaces ``path`` when the block ends. On any failure the temporary file
    is removed and ``path`` is untouched; errors name ``path``."""
    target = os.fspath(path)
    shared = _ACTIVE.get()
    staged = shared if shared is not None else _core.Outputs()
    tmp = os.fspath(staged.stage(target))
    try:
        yield tmp
    except BaseException as e:
        if shared is None:
            staged.discard()
        renamed = _naming(e, tmp, target)
        if renamed is e:
            raise
        raise renamed from None
    if shared is None:
        try:
            staged.commit()
        finally:
            staged.discard()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file standing for ``path`` for writing (see :func:`atomic_path`)."""
    # No fsync: the rename after a complete write is what keeps readers from a partial file;
    # syncing to disk (which the reference does not do either) cost up to 10 ms.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` (see :func:`atomic_path`)."""
    with atomic_open(path) as f:
        f.write(data)


@contextlib.contextmanager
def hdf5_output(path: str | os.PathLike[str]) -> Iterator[Any]:
    """An HDF5 file (``h5py.File``) built in memory inside the block, then written as any other
    output (see :func:`atomic_path`). HDF5 never writes to the disk itself, so a full disk is
    an ordinary ``OSError`` naming ``path``: HDF5's own error path after a failed write raises
    from its destructors and can crash the process."""
    import h5py  # type: ignore[import-untyped]

    # A name of its own per file: HDF5 refuses to open one name twice in a process.
    name = f"{os.path.basename(os.fspath(path))}.{next(_MEMORY_NAMES)}"
    h5 = h5py.File(name, "w", driver="core", backing_store=False)
    try:
        yield h5
        h5.flush()
        image = h5.id.get_file_image()
    finally:
        h5.close()
    write_atomic(path, image)


_MEMORY_NAMES = itertools.count()


def write_hdf5(path: str | os.PathLike[str], fill: Callable[[Any], None]) -> None:
    """Write an HDF5 file that ``fill(h5file)`` builds (see :func:`hdf5_output`)."""
    with hdf5_output(path) as h5:
        fill(h5)


def temporary_of(entry: str) -> str | None:
    """The kept part of the user's file name if ``entry`` is the name of one of the protocol's
    temporaries (a name shortened to fit ends with ``~`` and 8 hex digits), else None."""
    return _core.temporary_of(entry)
