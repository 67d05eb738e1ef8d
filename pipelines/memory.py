"""Python's cycle collector paused while a step builds millions of small objects.

The timelines, situations and features are tuples, dicts and dates: no reference cycles, so
the collector has nothing to free in them, but it still walks them each time enough objects
have been created (a full pass over every live object now and then). On the M city, with it
paused (means of three runs): timelines 6.3 -> 5.0 s, situations 4.9 -> 4.6 s, features
2.1 -> 1.8 s. It runs again, as before, when the step returns, even if the step fails.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    """Pause the cycle collector for the block (or, as a decorator, the function); nested uses
    leave it to the outermost one."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
