"""SIGTERM and SIGHUP stop a command as Ctrl-C does: the render stops, every temporary output
is removed, one line is printed, and the process then ends by the same signal."""

from __future__ import annotations

import os

try:
    # CPython's C module: ``signal`` itself wraps it in enums, whose import is a fifth of a
    # plain command's start-up.
    import _signal
except ImportError:  # another interpreter
    import signal as _signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, TracebackType

#: Signals handled like SIGINT (those a batch system or a closed terminal sends).
TERMINATING: tuple[int, ...] = tuple(getattr(_signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(_signal, name))
SIGINT: int = _signal.SIGINT

_received: list[int] = []


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


class terminate_as_interrupt:
    """Inside the block, SIGTERM and SIGHUP raise KeyboardInterrupt (the main thread only;
    a signal the parent set to be ignored, as ``nohup`` does with SIGHUP, stays ignored)."""

    def __enter__(self) -> None:
        self._previous: dict[int, object] = {}
        _received.clear()
        for sig in TERMINATING:
            if _signal.getsignal(sig) is _signal.SIG_IGN:
                continue
            try:
                self._previous[sig] = _signal.signal(sig, _as_interrupt)
            except ValueError:  # not the main thread: signals stay as they are
                break

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            _signal.signal(sig, handler)


def interrupting_signal() -> int:
    """The signal behind the last KeyboardInterrupt: SIGTERM or SIGHUP if one was received
    inside :func:`terminate_as_interrupt`, else SIGINT."""
    return _received[-1] if _received else SIGINT


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15 (the ``signal`` module's names are enums, imported only here)."""
    import signal

    return signal.Signals(signum).name


def end_by(signum: int) -> None:
    """End the process by ``signum`` (so the parent sees it killed by the signal)."""
    _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)
