"""A function's cold start: Python's cyclic garbage collector waits while the handler's modules load, then what
they loaded is set apart from it (`gc.freeze`).

Loading a handler makes about 95,000 objects that live as long as the process, and the collector, left on, walks
them again and again as they pile up: some 230 collections while the inbox handler loaded and ran its first batch,
40 to 58 ms of it on the bench's machine (timed by a gc callback), of a cold start of about 400. Paused while it
loads, its import took about 30 ms less (B3's first batch, docs/benchmarks.md). About 700 of the loaded objects
are garbage (0.4 MB): set apart with the rest, they stay. Each handler imports
this module before anything else (the import pauses the collector) and calls `loaded()` last.
"""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()  # as the process had it: a host that turned the collector off keeps it off
gc.disable()


def loaded() -> None:
    """The collector back on, with everything loaded so far out of its sight: from here on it walks only what the
    batches make. In a process that loads several handlers (the local runtime, tests), only the first loads with
    the collector paused."""
    if _COLLECTING:
        gc.enable()
    gc.freeze()
