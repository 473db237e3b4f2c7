"""How a process ends: without the interpreter's last garbage collections, and with its parent."""

from __future__ import annotations

import atexit
import gc

__all__ = ["die_with_parent", "skip_final_gc_at_exit"]


def skip_final_gc_at_exit() -> None:
    """At exit, freeze every object so that the interpreter's final collections pass over them.

    With torch, MLflow and scikit-learn loaded those collections took 1.3-1.5 s of every
    process's exit (0.3 s frozen; AMD EPYC, Python 3.11); nothing is left to free but memory
    the operating system takes back anyway. Registered first, it runs after every other
    ``atexit`` handler.
    """
    atexit.register(gc.freeze)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Have this process killed (SIGKILL) when its parent ``parent`` dies; exit now if it died
    already. Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere only the exit-now check holds.

    A ``--jobs`` process or a figure process calls this first: a parent killed with SIGKILL
    cannot stop its children, and an orphaned child would go on training for nobody.
    """
    import contextlib
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        # No libc symbol: the check below still holds.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
