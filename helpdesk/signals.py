"""Signals the core sends so that transfers and telephony can react without the core importing them.

Both are sent inside the transaction of the change; receivers do their own writes there.
"""

from django.dispatch import Signal

# An operator can no longer take offers on a media: sent with operator, media, reason
# ("offline", "away", "busy", "logged_out"). Pending transfer offers to them are cancelled.
operator_became_unavailable = Signal()

# An engagement ended (visitor left, operator ended, caller hung up): sent with engagement, reason.
engagement_ended = Signal()
