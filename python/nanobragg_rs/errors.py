"""Error reporting shared by every command: one line on stderr naming the flag or file, exit 2.

Commands run their work through :func:`run_reporting`, which turns the package's errors into
``PROG: error: MESSAGE`` and an exit status (0, 2 for an error, 128 + the signal for Ctrl-C,
SIGTERM or SIGHUP, which stop a command as Ctrl-C does). A core
``ConfigError`` names a configuration field (``detector.pixel_size_mm: must be positive``);
``blame`` replaces it by the flag the user gave for that field.
"""

from __future__ import annotations

import sys

from . import _core, interrupts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


class UsageError(Exception):
    """A command line that cannot be run; the message names the flag."""


def blame(message: str, sources: Mapping[str, str] | None = None) -> str:
    """Replace a leading configuration field name by what set it.

    ``sources`` maps fields to the flag (or file) that set them (see ``args.Run.sources``).
    """
    field, sep, rest = message.partition(": ")
    if sep and sources and field in sources:
        return f"{sources[field]}: {rest}"
    return message


def print_help(text: str) -> None:
    """Print a help text; a reader that stops early (``| head``) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        import os

        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def report(prog: str, message: str) -> int:
    """Print ``PROG: error: MESSAGE`` on stderr; return the exit status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def run_reporting(
    prog: str,
    body: Callable[[], None],
    also: tuple[type[Exception], ...] = (),
    interrupted: str = "interrupted",
    sources: Callable[[], Mapping[str, str] | None] = lambda: None,
) -> int:
    """Run ``body``; turn the package's errors (and ``also``) into a one-line message on stderr.

    ``sources()`` is asked, after a ``ConfigError``, which flag set which field.
    Returns the exit status: 0, 2 for an error, 128 + the signal for Ctrl-C (130), SIGTERM or
    SIGHUP.
    """
    errors: tuple[type[Exception], ...] = (UsageError, _core.NanoBraggError, OSError, ValueError, ImportError)
    try:
        with interrupts.terminate_as_interrupt():
            body()
    except _core.ConfigError as e:
        message = blame(str(e), sources())
    except OSError as e:
        # "FILE: what went wrong", the form Rust's I/O errors take too.
        message = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
    except errors + also as e:
        message = str(e)
    except KeyboardInterrupt:
        signum = interrupts.interrupting_signal()
        what = interrupted if signum == interrupts.SIGINT else f"{interrupted} ({interrupts.signal_name(signum)})"
        print(f"{prog}: {what}", file=sys.stderr)
        return 128 + signum
    else:
        return 0
    return report(prog, message)


def exit_status(status: int, argv: Sequence[str] | None) -> int:
    """The exit status; a command run from the command line (``argv`` None) stopped by SIGTERM
    or SIGHUP ends by that signal, as its parent expects."""
    if argv is None and status - 128 in interrupts.TERMINATING:
        interrupts.end_by(status - 128)
    return status
