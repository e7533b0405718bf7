"""Core domain models, split by subject and re-exported here."""

from .canned import CannedResponse
from .engagements import Engagement, Message, Note, Ownership, Visitor
from .organisation import Operator, Site, Team
from .presence import Availability, AvailabilityLog, Media
from .queues import Queue
from .transcripts import TranscriptEmail

__all__ = [
    "Availability",
    "AvailabilityLog",
    "CannedResponse",
    "Engagement",
    "Media",
    "Message",
    "Note",
    "Operator",
    "Ownership",
    "Queue",
    "Site",
    "Team",
    "TranscriptEmail",
    "Visitor",
]
