"""factory_boy factories for every model the tests build. One file for the whole suite.

Every product model has a factory here (tests/test_factories.py fails for one that has none),
and each builds a row its model's constraints accept. Related rows share one site: an
engagement's queue, its operators, a transfer's initiator and target, a call's legs.

State-driven fields follow the `state` you pass: `TransferFactory(state="declined")` gets its
answer and end times and reason, `LegFactory(state="ended")` its end time and reason. They are
rows as the services would have left them, built directly; to *act*, call the services.
"""

from datetime import date, time, timedelta

import factory
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from helpdesk.models import (
    Availability,
    AvailabilityLog,
    CannedResponse,
    Engagement,
    Holiday,
    Media,
    Message,
    Note,
    OfflineMessage,
    OpeningSlot,
    Operator,
    Ownership,
    Queue,
    QueueHours,
    QueueOverflow,
    QueueWaitEstimate,
    Site,
    Team,
    TranscriptEmail,
    Visitor,
)
from helpdesk.models.presence import DEFAULT_CAPACITY
from helpdesk.models.wrapup import DispositionCode, WrapUp
from helpdesk.services.presence import ensure_availabilities
from supervision.models import SupervisorAct, Watch
from telephony.models import Call, Leg, ProviderEvent
from transfers.models import EndReason, OfferOutcome, Transfer, TransferOffer, TransferState

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "password")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class OperatorFactory(factory.django.DjangoModelFactory):
    """An operator with availability rows on every media (offline unless `available=[...]`)."""

    class Meta:
        model = Operator
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    site = factory.SubFactory(SiteFactory)
    display_name = factory.Sequence(lambda n: f"Operator {n}")

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.teams.set(extracted)

    @factory.post_generation
    def available(self, create, extracted, **kwargs):
        """available=["chat"] marks the operator available on those media (with capacity `chat_capacity`)."""
        if not create:
            return
        ensure_availabilities(operator=self)
        for media in extracted or ():
            Availability.objects.filter(operator=self, media=media).update(
                status=Availability.Status.AVAILABLE, idle_since=timezone.now()
            )

    @factory.post_generation
    def chat_capacity(self, create, extracted, **kwargs):
        if create and extracted is not None:
            Availability.objects.filter(operator=self, media=Media.CHAT).update(capacity=extracted)


class AvailabilityFactory(factory.django.DjangoModelFactory):
    """An operator's row on one media, with the fields given (available, default capacity, idle now).

    Every operator already has one row per media (OperatorFactory makes them, as the core does), so
    this sets that row rather than adding a second one the unique constraint would refuse.
    """

    class Meta:
        model = Availability

    operator = factory.SubFactory(OperatorFactory)
    media = Media.CHAT
    status = Availability.Status.AVAILABLE
    capacity = factory.LazyAttribute(lambda a: DEFAULT_CAPACITY[a.media])
    load = 0
    idle_since = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, operator, media, **fields):
        availability, _ = model_class.objects.update_or_create(operator=operator, media=media, defaults=fields)
        return availability


class AvailabilityLogFactory(factory.django.DjangoModelFactory):
    """A finished stretch of one status (an hour up to now by default); `ended_at=None` for the open one."""

    class Meta:
        model = AvailabilityLog

    operator = factory.SubFactory(OperatorFactory)
    media = Media.CHAT
    status = Availability.Status.AVAILABLE
    ended_at = factory.LazyFunction(timezone.now)
    started_at = factory.LazyAttribute(lambda log: (log.ended_at or timezone.now()) - timedelta(hours=1))


class ManagerFactory(UserFactory):
    """A staff user in the Managers group, managing `sites`."""

    is_staff = True

    @factory.post_generation
    def sites(self, create, extracted, **kwargs):
        if not create:
            return
        group, _ = Group.objects.get_or_create(name="Managers")
        self.groups.add(group)
        for site in extracted or ():
            site.managers.add(self)


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Queue {n}")
    media = Media.CHAT

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.teams.set(extracted)


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    name = factory.Sequence(lambda n: f"Visitor {n}")


def _created_at(model_class, row, extracted):
    """`created_at=` for rows whose `created_at` is auto_now_add: written after the insert."""
    if extracted is not None:
        model_class.objects.filter(pk=row.pk).update(created_at=extracted)
        row.created_at = extracted


class EngagementFactory(factory.django.DjangoModelFactory):
    """A waiting engagement by default; use `helpdesk.services` to route or end it.

    `state="active"` or `state="ended"` build the row as those states leave it (an owner of the
    site, an answer time, an end time and reason) without the ownership stretches or load the
    services would write: for reports and exports that read rows, not for acts. `created_at=`
    back-dates the row (the column is auto_now_add).
    """

    class Meta:
        model = Engagement
        skip_postgeneration_save = True

    queue = factory.SubFactory(QueueFactory)
    site = factory.SelfAttribute("queue.site")
    visitor = factory.SubFactory(VisitorFactory)
    media = factory.SelfAttribute("queue.media")
    state = Engagement.State.QUEUED
    queued_at = factory.LazyFunction(timezone.now)
    owner = factory.Maybe(
        factory.LazyAttribute(lambda e: e.state != Engagement.State.QUEUED),
        yes_declaration=factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..site")),
        no_declaration=None,
    )
    answered_at = factory.LazyAttribute(
        lambda e: e.queued_at + timedelta(seconds=10) if e.state != Engagement.State.QUEUED else None
    )
    ended_at = factory.LazyAttribute(
        lambda e: (e.answered_at or e.queued_at) + timedelta(minutes=5) if e.state == Engagement.State.ENDED else None
    )
    end_reason = factory.LazyAttribute(
        lambda e: Engagement.EndReason.VISITOR_LEFT if e.state == Engagement.State.ENDED else ""
    )

    @factory.post_generation
    def created_at(self, create, extracted, **kwargs):
        if create:
            _created_at(Engagement, self, extracted)


# --- business hours, overflow, wait estimate, offline messages ------------------------------------------


class QueueHoursFactory(factory.django.DjangoModelFactory):
    """A queue's time zone; with no `OpeningSlotFactory` rows the queue is still open all the time."""

    class Meta:
        model = QueueHours

    queue = factory.SubFactory(QueueFactory)
    time_zone = "Europe/London"


class OpeningSlotFactory(factory.django.DjangoModelFactory):
    """Monday 09:00-17:00 unless told otherwise."""

    class Meta:
        model = OpeningSlot

    queue = factory.SubFactory(QueueFactory)
    weekday = OpeningSlot.Weekday.MONDAY
    opens_at = time(9, 0)
    closes_at = time(17, 0)


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    queue = factory.SubFactory(QueueFactory)
    date = date(2026, 12, 25)
    name = "Christmas Day"


class QueueOverflowFactory(factory.django.DjangoModelFactory):
    """Overflow to another queue of the same site after 60 s (and at once while nobody serves it)."""

    class Meta:
        model = QueueOverflow

    queue = factory.SubFactory(QueueFactory)
    overflow_queue = factory.SubFactory(QueueFactory, site=factory.SelfAttribute("..queue.site"))
    after_seconds = 60


class QueueWaitEstimateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueWaitEstimate

    queue = factory.SubFactory(QueueFactory)
    average_wait_seconds = 120.0
    samples = 5
    updated_at = factory.LazyFunction(timezone.now)


class OfflineMessageFactory(factory.django.DjangoModelFactory):
    """The offline part of a waiting engagement of kind "offline message"."""

    class Meta:
        model = OfflineMessage

    engagement = factory.SubFactory(EngagementFactory, kind=Engagement.Kind.OFFLINE_MESSAGE)
    email = factory.Sequence(lambda n: f"visitor{n}@example.com")


class OwnershipFactory(factory.django.DjangoModelFactory):
    """A stretch of an engagement held by an operator of its site (open unless `ended_at` is given)."""

    class Meta:
        model = Ownership

    engagement = factory.SubFactory(EngagementFactory)
    operator = factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..engagement.site"))
    started_at = factory.LazyFunction(timezone.now)
    started_because = Ownership.Start.ROUTED
    ended_at = None
    ended_because = factory.LazyAttribute(lambda o: Ownership.End.ENDED if o.ended_at else "")


class MessageFactory(factory.django.DjangoModelFactory):
    """The engagement's next line (seq = its last_seq + 1, which it then records, as post_message does).

    A line from `sender="operator"` is by an operator of the engagement's site unless `operator` is given;
    `created_at=` back-dates it.
    """

    class Meta:
        model = Message
        skip_postgeneration_save = True

    engagement = factory.SubFactory(EngagementFactory)
    seq = factory.LazyAttribute(lambda m: m.engagement.last_seq + 1)
    sender = Message.Sender.VISITOR
    operator = factory.Maybe(
        factory.LazyAttribute(lambda m: m.sender == Message.Sender.OPERATOR),
        yes_declaration=factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..engagement.site")),
        no_declaration=None,
    )
    supervisor = factory.Maybe(
        factory.LazyAttribute(lambda m: m.sender == Message.Sender.SUPERVISOR),
        yes_declaration=factory.SubFactory(UserFactory),
        no_declaration=None,
    )
    body = "Hello"

    @factory.post_generation
    def _last_seq(self, create, extracted, **kwargs):
        if create and self.seq > self.engagement.last_seq:
            Engagement.objects.filter(pk=self.engagement_id, last_seq__lt=self.seq).update(last_seq=self.seq)
            self.engagement.last_seq = self.seq

    @factory.post_generation
    def created_at(self, create, extracted, **kwargs):
        if create:
            _created_at(Message, self, extracted)


class NoteFactory(factory.django.DjangoModelFactory):
    """A manual note; `source="whisper"` is by a supervisor. `created_at=` back-dates it."""

    class Meta:
        model = Note
        skip_postgeneration_save = True

    engagement = factory.SubFactory(EngagementFactory)
    body = "A note"
    source = Note.Source.MANUAL
    supervisor = factory.Maybe(
        factory.LazyAttribute(lambda n: n.source == Note.Source.WHISPER),
        yes_declaration=factory.SubFactory(UserFactory),
        no_declaration=None,
    )

    @factory.post_generation
    def created_at(self, create, extracted, **kwargs):
        if create:
            _created_at(Note, self, extracted)


class CannedResponseFactory(factory.django.DjangoModelFactory):
    """A site-wide reply; pass `queue=` for one queue's chats (the site follows it)."""

    class Meta:
        model = CannedResponse

    queue = None
    site = factory.LazyAttribute(lambda c: c.queue.site if c.queue else SiteFactory())
    shortcut = factory.Sequence(lambda n: f"reply{n}")
    title = factory.LazyAttribute(lambda c: c.shortcut.capitalize())
    body = "Hello {visitor}, this is {operator}. How can I help?"


class TranscriptEmailFactory(factory.django.DjangoModelFactory):
    """A request not sent yet; `sent_at=` for one the task has sent."""

    class Meta:
        model = TranscriptEmail

    engagement = factory.SubFactory(EngagementFactory, state=Engagement.State.ENDED)
    address = factory.Sequence(lambda n: f"visitor{n}@example.com")


# --- wrap-up and its codes ---------------------------------------------------------------------------


class DispositionCodeFactory(factory.django.DjangoModelFactory):
    """An active disposition of a queue; `kind=DispositionCode.Kind.TRANSFER` for a transfer reason."""

    class Meta:
        model = DispositionCode

    queue = factory.SubFactory(QueueFactory)
    kind = DispositionCode.Kind.DISPOSITION
    code = factory.Sequence(lambda n: f"code-{n}")
    name = factory.Sequence(lambda n: f"Outcome {n}")


class WrapUpFactory(factory.django.DjangoModelFactory):
    """An open optional wrap-up of an ended stretch (as the services leave it, minus the availability count);
    `ended_at=` for a finished one (ended as done)."""

    class Meta:
        model = WrapUp

    ownership = factory.SubFactory(
        OwnershipFactory,
        engagement=factory.SubFactory(EngagementFactory, state=Engagement.State.ENDED),
        ended_at=factory.LazyFunction(timezone.now),
    )
    engagement = factory.SelfAttribute("ownership.engagement")
    operator = factory.SelfAttribute("ownership.operator")
    queue = factory.SelfAttribute("ownership.engagement.queue")
    media = factory.SelfAttribute("ownership.engagement.media")
    mode = WrapUp.Mode.OPTIONAL
    started_at = factory.SelfAttribute("ownership.ended_at")
    ended_at = None
    ended_because = factory.LazyAttribute(lambda w: WrapUp.End.DONE if w.ended_at else "")


# --- transfers ---------------------------------------------------------------------------------------

_ANSWERED = (TransferState.ACCEPTED, TransferState.COMPLETED, TransferState.DECLINED)
_END_REASON = {
    TransferState.DECLINED: EndReason.DECLINED,
    TransferState.EXPIRED: EndReason.NOT_ANSWERED,
    TransferState.CANCELLED: EndReason.CANCELLED_BY_INITIATOR,
}
_OFFER_OUTCOME = {
    TransferState.REQUESTED: OfferOutcome.PENDING,
    TransferState.ACCEPTED: OfferOutcome.ACCEPTED,
    TransferState.COMPLETED: OfferOutcome.ACCEPTED,
    TransferState.DECLINED: OfferOutcome.DECLINED,
    TransferState.EXPIRED: OfferOutcome.EXPIRED,
    TransferState.CANCELLED: OfferOutcome.WITHDRAWN,
}


def _transfer_ended_at(transfer):
    if transfer.state in (TransferState.REQUESTED, TransferState.ACCEPTED):
        return None
    if transfer.answered_at:
        return transfer.answered_at + timedelta(seconds=1)
    return transfer.requested_at + timedelta(seconds=transfer.accept_timeout_seconds)


class TransferFactory(factory.django.DjangoModelFactory):
    """A transfer from an operator of the engagement's site to another one, in the `state` given.

    The times, the accepting operator, the hand-over deadline and the end reason follow the state,
    so every state builds a row the constraints accept. `target_queue=...` (with
    `target_operator=None`) makes a queue transfer; it is offered to nobody unless `offered_to`
    is given. No `TransferOffer` rows are made: add them with TransferOfferFactory.
    """

    class Meta:
        model = Transfer

    engagement = factory.SubFactory(EngagementFactory, state=Engagement.State.ACTIVE)
    initiator = factory.LazyAttribute(lambda t: t.engagement.owner or OperatorFactory(site=t.engagement.site))
    target_operator = factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..engagement.site"))
    target_queue = None
    offered_to = factory.SelfAttribute("target_operator")
    state = TransferState.REQUESTED
    accept_timeout_seconds = factory.LazyAttribute(lambda t: t.engagement.queue.accept_timeout_seconds)
    requested_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(
        lambda t: t.requested_at + timedelta(seconds=t.accept_timeout_seconds) if t.offered_to else None
    )
    answered_at = factory.LazyAttribute(
        lambda t: t.requested_at + timedelta(seconds=5) if t.state in _ANSWERED else None
    )
    accepted_by = factory.LazyAttribute(
        lambda t: t.offered_to if t.state in (TransferState.ACCEPTED, TransferState.COMPLETED) else None
    )
    hand_over_by = factory.LazyAttribute(
        lambda t: t.answered_at + timedelta(seconds=60) if t.state == TransferState.ACCEPTED else None
    )
    ended_at = factory.LazyAttribute(_transfer_ended_at)
    completed_at = factory.LazyAttribute(lambda t: t.ended_at if t.state == TransferState.COMPLETED else None)
    end_reason = factory.LazyAttribute(lambda t: _END_REASON.get(t.state, ""))


class TransferOfferFactory(factory.django.DjangoModelFactory):
    """One offer of a transfer to its offered (or target) operator, its outcome following the transfer's state."""

    class Meta:
        model = TransferOffer

    transfer = factory.SubFactory(TransferFactory)
    operator = factory.LazyAttribute(lambda o: o.transfer.offered_to or o.transfer.target_operator)
    outcome = factory.LazyAttribute(lambda o: _OFFER_OUTCOME[o.transfer.state])
    reason = factory.LazyAttribute(
        lambda o: {
            OfferOutcome.DECLINED: EndReason.DECLINED,
            OfferOutcome.EXPIRED: EndReason.NOT_ANSWERED,
            OfferOutcome.WITHDRAWN: o.transfer.end_reason,
        }.get(o.outcome, "")
    )
    offered_at = factory.SelfAttribute("transfer.requested_at")
    expires_at = factory.LazyAttribute(lambda o: o.offered_at + timedelta(seconds=o.transfer.accept_timeout_seconds))
    answered_at = factory.LazyAttribute(
        lambda o: (
            None if o.outcome == OfferOutcome.PENDING else o.transfer.answered_at or o.transfer.ended_at or o.expires_at
        )
    )


# --- telephony ---------------------------------------------------------------------------------------


class CallFactory(factory.django.DjangoModelFactory):
    """The call of a voice engagement (of a voice queue by default).

    Got or created by engagement: routing a voice engagement already made its call (telephony
    rings the routed operator), and an engagement has one call.
    """

    class Meta:
        model = Call
        django_get_or_create = ("engagement",)

    engagement = factory.SubFactory(EngagementFactory, queue__media=Media.VOICE)
    mode = Call.Mode.NORMAL
    initiator = factory.Maybe(
        factory.LazyAttribute(lambda c: c.mode != Call.Mode.NORMAL),
        yes_declaration=factory.LazyAttribute(lambda c: c.engagement.owner or OperatorFactory(site=c.engagement.site)),
        no_declaration=None,
    )


_LEG_OPERATOR_KINDS = (Leg.Kind.OPERATOR, Leg.Kind.CONSULT)
_LEG_RUNG_STATES = (Leg.State.RINGING, Leg.State.CONNECTED, Leg.State.HELD)


class LegFactory(factory.django.DjangoModelFactory):
    """A leg of a call: the owner's (an operator of the call's site) unless `kind` says otherwise.

    The times follow `state` (ringing, connected, held; ended with `end_reason`, hung up by default);
    `initiated_at=` back-dates the leg (the column is auto_now_add).
    """

    class Meta:
        model = Leg
        skip_postgeneration_save = True

    call = factory.SubFactory(CallFactory)
    kind = Leg.Kind.OPERATOR
    operator = factory.Maybe(
        factory.LazyAttribute(lambda leg: leg.kind in _LEG_OPERATOR_KINDS),
        yes_declaration=factory.SubFactory(OperatorFactory, site=factory.SelfAttribute("..call.engagement.site")),
        no_declaration=None,
    )
    phone_number = factory.LazyAttribute(lambda leg: "+447700900123" if leg.kind == Leg.Kind.PHONE else "")
    # A supervisor's leg (issue 13.4): a user of its own, listening unless `role=` says otherwise.
    supervisor = factory.Maybe(
        factory.LazyAttribute(lambda leg: leg.kind == Leg.Kind.SUPERVISOR),
        yes_declaration=factory.SubFactory(UserFactory),
        no_declaration=None,
    )
    role = factory.LazyAttribute(lambda leg: Leg.Role.LISTEN if leg.kind == Leg.Kind.SUPERVISOR else "")
    state = Leg.State.INITIATED
    # An ended leg gets only its end: whether it rang or was answered first is the test's to say.
    ringing_at = factory.LazyAttribute(lambda leg: timezone.now() if leg.state in _LEG_RUNG_STATES else None)
    connected_at = factory.LazyAttribute(
        lambda leg: timezone.now() if leg.state in (Leg.State.CONNECTED, Leg.State.HELD) else None
    )
    held_at = factory.LazyAttribute(lambda leg: timezone.now() if leg.state == Leg.State.HELD else None)
    ended_at = factory.LazyAttribute(lambda leg: timezone.now() if leg.state == Leg.State.ENDED else None)
    end_reason = factory.LazyAttribute(lambda leg: Leg.EndReason.HUNG_UP if leg.state == Leg.State.ENDED else "")

    @factory.post_generation
    def initiated_at(self, create, extracted, **kwargs):
        if create and extracted is not None:
            Leg.objects.filter(pk=self.pk).update(initiated_at=extracted)
            self.initiated_at = extracted


class ProviderEventFactory(factory.django.DjangoModelFactory):
    """A webhook event as the hosted provider's adapter records it (one per resource and sequence)."""

    class Meta:
        model = ProviderEvent

    provider = "twilio"
    resource_id = factory.Sequence(lambda n: f"CA{n:032x}")
    sequence = factory.Sequence(lambda n: n)
    kind = "leg.answered"
    payload = factory.LazyAttribute(lambda e: {"CallSid": e.resource_id, "SequenceNumber": str(e.sequence)})


# --- supervision -------------------------------------------------------------------------------------


class SupervisorActFactory(factory.django.DjangoModelFactory):
    """A supervisor's act on an engagement of the site, by a manager of that site."""

    class Meta:
        model = SupervisorAct

    site = factory.SubFactory(SiteFactory)
    actor = factory.LazyAttribute(lambda act: ManagerFactory(sites=[act.site]))
    act = SupervisorAct.Act.MONITOR_START
    engagement = factory.SubFactory(EngagementFactory, queue__site=factory.SelfAttribute("...site"))
    operator = factory.SelfAttribute("engagement.owner")


class WatchFactory(factory.django.DjangoModelFactory):
    """An open watch of an engagement by a manager of its site."""

    class Meta:
        model = Watch

    engagement = factory.SubFactory(EngagementFactory)
    supervisor = factory.LazyAttribute(lambda watch: ManagerFactory(sites=[watch.engagement.site]))
    mode = Watch.Mode.WATCH


class AdminChangeFactory(factory.django.DjangoModelFactory):
    """A change made in the admin (django.contrib.admin's LogEntry) of `changed`, a queue by default,
    by a manager of its site, as the admin writes it."""

    class Meta:
        model = LogEntry
        exclude = ["changed"]

    changed = factory.SubFactory(QueueFactory)
    user = factory.LazyAttribute(lambda entry: ManagerFactory(sites=[entry.changed.site]))
    content_type = factory.LazyAttribute(
        lambda entry: ContentType.objects.get_for_model(entry.changed, for_concrete_model=False)
    )
    object_id = factory.LazyAttribute(lambda entry: str(entry.changed.pk))
    object_repr = factory.LazyAttribute(lambda entry: str(entry.changed)[:200])
    action_flag = CHANGE
    change_message = '[{"changed": {"fields": ["Name"]}}]'
    action_time = factory.LazyFunction(timezone.now)
