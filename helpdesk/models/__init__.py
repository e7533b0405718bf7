"""Core domain models, split by subject and re-exported here."""

from .engagements import Engagement, Message, Note, Ownership, Visitor
from .organisation import Operator, Site, Team
from .presence import Availability, AvailabilityLog, Media
from .queues import Queue

__all__ = [
    "Availability",
    "AvailabilityLog",
    "Engagement",
    "Media",
    "Message",
    "Note",
    "Operator",
    "Ownership",
    "Queue",
    "Site",
    "Team",
    "Visitor",
]
