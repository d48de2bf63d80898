"""Run in each worker of the LocalCluster ``nanobragg dataset`` starts (a Dask preload).

Ctrl-C in a terminal reaches every process of the group: the workers ignore it and leave it
to the driver, which stops them and prints one line instead of a traceback per worker."""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
