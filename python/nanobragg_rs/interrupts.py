"""SIGTERM and SIGHUP stop a command as Ctrl-C does: the render stops, every temporary output
is removed, one line is printed, and the process then ends by the same signal."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

#: Signals handled like SIGINT (those a batch system or a closed terminal sends).
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise KeyboardInterrupt (the main thread only;
    a signal the parent set to be ignored, as ``nohup`` does with SIGHUP, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in TERMINATING:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, _as_interrupt)
    _received.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupting_signal() -> int:
    """The signal behind the last KeyboardInterrupt: SIGTERM or SIGHUP if one was received
    inside :func:`terminate_as_interrupt`, else SIGINT."""
    return _received[-1] if _received else int(signal.SIGINT)


def end_by(signum: int) -> None:
    """End the process by ``signum`` (so the parent sees it killed by the signal)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
