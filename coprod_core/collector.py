"""Pausing Python's cycle collector while the core builds many small objects.

The mapping and the checks build hundreds of thousands of objects (rows, entitlements,
lines of evidence) that never form reference cycles. Every 700 allocations the collector walks the
young objects, and every so often all of them, the whole dataset included: on the 200,000-attendance
benchmark that was about half the time of each step, for nothing to free. Reference counting still
frees everything as usual while the collector waits. The caller's setting is restored afterwards,
so an application that switched collection off keeps it off.

What the pause built and kept (the dataset) would otherwise all be young when the collector wakes,
and its first collection would walk every object of it at once. So they are moved straight to the
oldest generation (``gc.freeze`` then ``gc.unfreeze``, which move whole generations without
walking them), where only a full collection, rare and proportionate, looks at them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
