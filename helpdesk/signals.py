"""Signals the core sends so that transfers and telephony can react without the core importing them.

Definitions only. Each is sent inside the transaction of the change; receivers do their own
writes there (or after commit). The core's own receivers are in receivers.py.
"""

from __future__ import annotations

from django.dispatch import Signal

# An operator can no longer take offers on a media: sent with operator, media, reason
# ("offline", "away", "busy", "logged_out"). Pending transfer offers to them are cancelled.
operator_became_unavailable = Signal()

# An operator's load on a media reached their capacity (services/capacity.py, the one writer of load):
# sent with operator, media, while the availability row is locked. Pending transfer offers to them
# on that media are withdrawn ("at capacity").
operator_reached_capacity = Signal()

# An engagement ended (visitor left, operator ended, caller hung up): sent with engagement, reason.
engagement_ended = Signal()

# A visitor's socket opens (or reopens): sent with engagement; each receiver returns a dict of
# fields added to the visitor's `hello`, so what another app told the visitor live survives a
# reconnect (transfers: `transferring_to` while an accepted transfer waits for Transfer Now).
visitor_hello = Signal()
