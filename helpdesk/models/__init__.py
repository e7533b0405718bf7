"""Core domain models, split by subject and re-exported here."""

from .canned import CannedResponse
from .engagements import Engagement, Message, Note, Ownership, Visitor
from .hours import Holiday, OpeningSlot, QueueHours
from .organisation import Operator, Site, Team
from .presence import Availability, AvailabilityLog, Media
from .queues import Queue
from .transcripts import TranscriptEmail
from .waiting import OfflineMessage, QueueOverflow, QueueWaitEstimate
from .wrapup import DispositionCode, WrapUp, WrapUpMode

__all__ = [
    "Availability",
    "AvailabilityLog",
    "CannedResponse",
    "DispositionCode",
    "Engagement",
    "Holiday",
    "Media",
    "Message",
    "Note",
    "OfflineMessage",
    "OpeningSlot",
    "Operator",
    "Ownership",
    "Queue",
    "QueueHours",
    "QueueOverflow",
    "QueueWaitEstimate",
    "Site",
    "Team",
    "TranscriptEmail",
    "Visitor",
    "WrapUp",
    "WrapUpMode",
]
