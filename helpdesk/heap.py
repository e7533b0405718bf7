"""A server process's start-up objects, kept out of the garbage collector's way.

A loaded Django process holds ~150,000 objects that live as long as it does: modules, models,
URL patterns, templates, settings. Python's full collection walks every one of them, about 75 ms
on the 2-core box (docs/performance.md), and the process serves nobody meanwhile: each socket of
a Daphne waits, and so does the batch of expiring transfers in a worker. Such a collection comes
whenever enough new objects have survived, so under load it lands in the tail of every latency.
Moved to the permanent generation once start-up is done (`gc.freeze`), those objects are never
walked again; the collector then looks only at what the process made since.
"""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> None:
    """Call once the process has loaded what it will serve with, before it serves."""
    gc.collect()  # start-up's own garbage first: frozen, it would stay for the process's life
    gc.freeze()
