"""A function's cold start: Python's cyclic garbage collector waits while the handler's modules load, then what
they loaded is set apart from it (`gc.freeze`).

Loading a handler makes about 95,000 objects that live as long as the process, and the collector, left on, walks
them again and again as they pile up: on Python 3.11 here, some 130 collections and about 27 ms of the inbox
handler's import, 40 to 58 ms with its first batch (timed by a gc callback). Lambda's Python 3.14 collects the
young generation less often (after 2,000 allocations, not 700): about 16 ms of the import with its thresholds. About
700 of the loaded objects are garbage (0.4 MB): set apart with the rest, they stay; a collection to free them
would cost what the pause saves. Each handler imports this module before anything else (the import pauses the
collector) and calls `loaded()` last; tests/unit/test_coldstart.py holds every handler to it.
"""

from __future__ import annotations

import gc
from functools import cache

_COLLECTING = gc.isenabled()  # as the process had it: a host that turned the collector off keeps it off
gc.disable()


def loaded() -> None:
    """The collector back on, with everything loaded so far out of its sight: from here on it walks only what the
    batches make. A handler whose import fails leaves the collector paused, and Lambda and the local runtime then
    end the process. In a process that loads handlers again (the tests reload them), only the first load is
    paused and set apart: later, what the collector tracks is the process's own, garbage too."""
    if _COLLECTING:
        gc.enable()
    _set_apart()


@cache
def _set_apart() -> None:
    gc.freeze()
