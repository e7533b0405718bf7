from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from .presence import Media


class Visitor(models.Model):
    """Someone who contacts the helpdesk: a chat visitor or a caller."""

    name = models.CharField(max_length=100, blank=True)
    phone_number = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name or self.phone_number or f"Visitor {self.pk}"

    @property
    def display_name(self) -> str:
        return str(self)


class Engagement(models.Model):
    """A conversation with a visitor or caller on one media, owned by at most one operator."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting in queue"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    class EndReason(models.TextChoices):
        VISITOR_LEFT = "visitor_left", "Visitor left"
        OPERATOR_ENDED = "operator_ended", "Operator ended"
        ABANDONED = "abandoned", "Abandoned before an answer"
        CALLER_HUNG_UP = "caller_hung_up", "Caller hung up"
        CALL_ENDED = "call_ended", "Call ended"

    class Kind(models.TextChoices):
        LIVE = "live", "Live"
        # Left while the queue was closed (helpdesk/services/offline.py): routed once it opens.
        OFFLINE_MESSAGE = "offline_message", "Offline message"

    site = models.ForeignKey("helpdesk.Site", on_delete=models.PROTECT, related_name="engagements")
    queue = models.ForeignKey("helpdesk.Queue", on_delete=models.PROTECT, related_name="engagements")
    visitor = models.ForeignKey(Visitor, on_delete=models.PROTECT, related_name="engagements")
    media = models.CharField(max_length=10, choices=Media.choices, default=Media.CHAT)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    owner = models.ForeignKey(
        "helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="owned_engagements"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(help_text="When it last entered a queue.")
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    # The sequence number of the last message: the next one takes last_seq + 1 under a row lock.
    last_seq = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LIVE, db_default=Kind.LIVE)
    # Timers as facts (helpdesk/services/overflow.py, offline.py): routing leaves it waiting until
    # route_after; from overflow_at the overflow sweep also offers it to overflow_queue.
    route_after = models.DateTimeField(null=True, blank=True)
    overflow_at = models.DateTimeField(null=True, blank=True)
    overflow_queue = models.ForeignKey(
        "helpdesk.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="overflowed_engagements"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "queue", "queued_at"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["queued", "active", "ended"]), name="engagement_state_valid"),
            models.CheckConstraint(condition=Q(media__in=Media.values), name="engagement_media_valid"),
            models.CheckConstraint(condition=Q(kind__in=["live", "offline_message"]), name="engagement_kind_valid"),
            models.CheckConstraint(
                condition=~Q(state="active") | Q(owner__isnull=False), name="engagement_active_has_owner"
            ),
            models.CheckConstraint(
                condition=~Q(state="queued") | Q(owner__isnull=True), name="engagement_queued_has_no_owner"
            ),
            models.CheckConstraint(
                condition=~Q(state="ended") | Q(ended_at__isnull=False), name="engagement_ended_has_time"
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_media_display()} with {self.visitor}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.ENDED


class Ownership(models.Model):
    """One stretch of an engagement held by one operator: from when, to when, and why it began and ended."""

    class Start(models.TextChoices):
        ROUTED = "routed", "Routed"
        TRANSFERRED = "transferred", "Transferred"
        # A supervisor gave it to this operator (a waiting engagement), or took it over themselves.
        ASSIGNED = "assigned", "Assigned by a supervisor"
        TAKEN_OVER = "taken_over", "Taken over by a supervisor"

    class End(models.TextChoices):
        TRANSFERRED = "transferred", "Transferred"
        ENDED = "ended", "Ended"
        # A call nobody took (offer declined or unanswered, customer left alone on hold) went back
        # to its queue; the stretch ends without the operator having handled it.
        REQUEUED = "requeued", "Back in the queue"
        TAKEN_OVER = "taken_over", "Taken over by a supervisor"
        REASSIGNED = "reassigned", "Reassigned by a supervisor"

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="ownerships")
    operator = models.ForeignKey("helpdesk.Operator", on_delete=models.PROTECT, related_name="ownerships")
    started_at = models.DateTimeField()
    started_because = models.CharField(max_length=12, choices=Start.choices)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_because = models.CharField(max_length=12, choices=End.choices, blank=True)
    # How far the operator has read, for unread counts in the console.
    last_read_seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["engagement", "started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement"], condition=Q(ended_at__isnull=True), name="ownership_one_current_owner"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="ownership_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.operator} on {self.engagement_id} from {self.started_at:%H:%M:%S}"


class Message(models.Model):
    """A chat line; `seq` is gap-free per engagement so clients can resume after a reconnect."""

    class Sender(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        OPERATOR = "operator", "Operator"
        SYSTEM = "system", "System"
        # A supervisor who joined the chat (barge): the visitor sees their lines.
        SUPERVISOR = "supervisor", "Supervisor"

    # No index of its own: message_seq_unique (engagement, seq) serves every lookup by engagement,
    # and each chat line would pay for a second one.
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="messages", db_index=False)
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=10, choices=Sender.choices)
    operator = models.ForeignKey("helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.TextField(max_length=settings.MESSAGE_MAX_LENGTH)
    # The sender's own id for the line (their outbox's idempotency key): a line sent again after a
    # reconnect is stored once. Empty for lines no client wrote (system lines, the API, old clients).
    client_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["engagement", "seq"]
        indexes = [
            # The visitor's message limit in the post's one statement (services/messages_async.py):
            # the limit-th latest visitor line, read backwards from this index alone. Without it the
            # planner read every line of the engagement and sorted them, once per visitor line.
            models.Index(
                fields=["engagement", "seq"],
                include=["created_at"],
                condition=Q(sender="visitor"),
                name="message_visitor_lines",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["engagement", "client_id"], condition=~Q(client_id=""), name="message_client_id_once"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
            models.CheckConstraint(
                condition=Q(sender__in=["visitor", "operator", "system", "supervisor"]), name="message_sender_valid"
            ),
            models.CheckConstraint(
                condition=~Q(sender="operator") | Q(operator__isnull=False), name="message_operator_has_author"
            ),
            models.CheckConstraint(
                condition=~Q(sender="supervisor") | Q(supervisor__isnull=False), name="message_supervisor_has_author"
            ),
            # The services refuse longer text; the database refuses it from anywhere else (raw SQL, a shell).
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), settings.MESSAGE_MAX_LENGTH),
                name="message_body_within_limit",
            ),
        ]

    def __str__(self):
        return f"{self.engagement_id}#{self.seq} {self.sender}"


class Note(models.Model):
    """Internal text on an engagement, never shown to the visitor."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        TRANSFER = "transfer", "Transfer message"
        SYSTEM = "system", "System"
        # A supervisor's whisper: only the operator (and other supervisors) see it.
        WHISPER = "whisper", "Supervisor whisper"

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.TextField(max_length=settings.MESSAGE_MAX_LENGTH)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["engagement", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=["manual", "transfer", "system", "whisper"]), name="note_source_valid"
            ),
            models.CheckConstraint(
                condition=~Q(source="whisper") | Q(supervisor__isnull=False), name="note_whisper_has_supervisor"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), settings.MESSAGE_MAX_LENGTH), name="note_body_within_limit"
            ),
        ]

    def __str__(self):
        return f"Note on {self.engagement_id} by {self.author or 'system'}"
