"""The garbage collector's policy for long-running processes (web workers, the collector).

Measured under the load test: a full (generation 2) collection in a web worker walked about
130,000 objects, two thirds of them the imported code and the app built at startup, and took
90 to 300 ms in a start-line rush. Every screen of that worker waits that long. Nearly nothing
is ever freed by it: the app's garbage is acyclic and goes by reference counting.
"""

from __future__ import annotations

import gc

# Generation 0 is collected after this many net allocations (CPython's default is 700): a
# request or a burst of frames allocates and frees thousands of objects, and with a small
# threshold the collector runs many times during it and promotes its short-lived objects,
# which then make the full collections both more frequent and longer.
YOUNG_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Call once the process has built what it keeps for its lifetime, before serving:
    those objects move to the permanent generation, which no collection walks again."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
