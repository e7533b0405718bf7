"""Reads of chat transfers shared by the console dialog, the admin and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Media, Operator, Queue, Site
from helpdesk.selectors import estimated_minutes, message_frames_after, queue_stats, wait_averages

from . import frames
from .models import OPEN_STATES, Transfer, TransferOffer, TransferState

SEARCH_MAX_LENGTH = 100

# What `frames.transfer_payload` draws, besides the transfer's operators (`drawn_transfers`).
# Left out, each transfer that has one (a reason, a warm message) would cost a query.
ROW_RELATIONS = ("engagement__visitor", "target_queue", "note", "reason")
OPERATOR_RELATIONS = ("initiator", "target_operator", "offered_to", "accepted_by")


def drawn_transfers(transfers: QuerySet[Transfer]) -> list[Transfer]:
    """The transfers with everything `frames.transfer_payload` draws: two statements however many
    (and whatever the queryset prefetches).

    Their operators come in a statement of their own: a handful of people appear in every transfer
    of a list, and joined they came back once per relation and transfer (900 Operator instances for
    300 expiring together; the eight-table join also took ~4 ms to plan, where these plan in ~1 ms).
    """
    rows = list(transfers.select_related(*ROW_RELATIONS))
    ids = {getattr(row, f"{name}_id") for row in rows for name in OPERATOR_RELATIONS} - {None}
    operators = Operator.objects.in_bulk(ids) if ids else {}
    for row in rows:
        for name in OPERATOR_RELATIONS:
            if (operator_id := getattr(row, f"{name}_id")) is not None:
                setattr(row, name, operators[operator_id])
    return rows


def drawn_transfer(transfer_id: int) -> Transfer:
    """One transfer as it is now, with everything its frame draws (two statements; refreshing an
    instance instead drops its relations, and drawing it read them one by one: eight statements)."""
    return drawn_transfers(Transfer.objects.filter(pk=transfer_id))[0]


@dataclass(frozen=True)
class OperatorOption:
    """One row of the dialog's Operators tab."""

    operator: Operator
    site_name: str
    teams: list[str]
    statuses: dict[str, str]
    can_take: bool
    why_not: str = ""

    def as_dict(self) -> dict:
        return {
            "id": self.operator.pk,
            "name": self.operator.display_name,
            "email": self.operator.user.email,
            "site_id": self.operator.site_id,
            "site_name": self.site_name,
            "teams": self.teams,
            "availability": [{"media": media, "status": status} for media, status in self.statuses.items()],
            "can_take": self.can_take,
            "why_not": self.why_not,
        }


@dataclass(frozen=True)
class QueueOption:
    """One row of the dialog's Queues tab: how many wait there now and for how long."""

    queue: Queue
    waiting: int
    longest_wait_seconds: int
    available_operators: int
    notes: list[str] = field(default_factory=list)
    # What a chat sent there now would be told (the visitors' estimate, docs/metrics.md); None: unknown.
    estimated_wait_minutes: int | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.queue.pk,
            "name": self.queue.name,
            "site_id": self.queue.site_id,
            "site_name": self.queue.site.name,
            "waiting": self.waiting,
            "longest_wait_seconds": self.longest_wait_seconds,
            "available_operators": self.available_operators,
            "accept_timeout_seconds": self.queue.accept_timeout_seconds,
            "estimated_wait_minutes": self.estimated_wait_minutes,
        }


def _why_not(availability: Availability | None) -> str:
    if availability is None or availability.status == Availability.Status.OFFLINE:
        return "Offline"
    if availability.status != Availability.Status.AVAILABLE:
        return availability.get_status_display()
    if availability.load >= availability.capacity:
        return "At capacity"
    if availability.wrap_ups:
        return "Wrapping up"
    return ""


def available_operators_for_transfer(
    *, engagement: Engagement, initiator: Operator, site_id: int | None = None, search: str = ""
) -> list[OperatorOption]:
    """Every operator of the company but yourself, with availability per media; who can take it now first.

    `search` matches name, email or team; `site_id` narrows to one site. An operator can take the
    engagement when available on its media and under capacity there.
    """
    operators = (
        Operator.objects.exclude(pk=initiator.pk)
        .select_related("site", "user")
        .prefetch_related("teams", Prefetch("availabilities", queryset=Availability.objects.order_by("media")))
    )
    if site_id:
        operators = operators.filter(site_id=site_id)
    search = (search or "").strip()[:SEARCH_MAX_LENGTH]
    if search:
        operators = operators.filter(
            Q(display_name__icontains=search) | Q(user__email__icontains=search) | Q(teams__name__icontains=search)
        ).distinct()
    media_order = list(Media.values)
    options = []
    for operator in operators:
        by_media = {a.media: a for a in operator.availabilities.all()}
        statuses = {media: (by_media[media].status if media in by_media else "offline") for media in media_order}
        why_not = _why_not(by_media.get(engagement.media))
        options.append(
            OperatorOption(
                operator=operator,
                site_name=operator.site.name,
                teams=sorted(team.name for team in operator.teams.all()),
                statuses=statuses,
                can_take=not why_not,
                why_not=why_not,
            )
        )
    options.sort(key=lambda option: (not option.can_take, option.operator.display_name.lower()))
    return options


def queues_for_transfer(*, engagement: Engagement, site_id: int | None = None) -> list[QueueOption]:
    """Queues of the engagement's media with how many wait there now (visitors and queued transfers)."""
    queues = Queue.objects.filter(media=engagement.media).select_related("site").order_by("site__name", "name")
    if site_id:
        queues = queues.filter(site_id=site_id)
    queues = list(queues)
    waiting_transfers = dict(
        Transfer.objects.filter(target_queue__in=queues, state=TransferState.REQUESTED, offered_to__isnull=True)
        .values_list("target_queue")
        .annotate(n=Count("pk"))
    )
    averages = wait_averages([queue.pk for queue in queues]) if queues else {}
    options = []
    for stats in queue_stats(queues=queues):
        options.append(
            QueueOption(
                queue=stats.queue,
                waiting=stats.waiting + waiting_transfers.get(stats.queue.pk, 0),
                longest_wait_seconds=stats.longest_wait_seconds,
                available_operators=stats.available_operators,
                estimated_wait_minutes=estimated_minutes(average=averages.get(stats.queue.pk)),
            )
        )
    options.sort(key=lambda option: (option.queue.site.name, option.queue.name))
    return options


def sites_for_transfer() -> QuerySet[Site]:
    return Site.objects.order_by("name")


def transfer_queue_position(*, transfer: Transfer) -> int:
    """1-based place of a waiting queue transfer: visitors queued before it, then earlier waiting transfers."""
    if not transfer.is_queue_transfer:
        return 0
    ahead_visitors = Engagement.objects.filter(
        queue_id=transfer.target_queue_id, state=Engagement.State.QUEUED, queued_at__lt=transfer.requested_at
    ).count()
    ahead_transfers = Transfer.objects.filter(
        target_queue_id=transfer.target_queue_id,
        state=TransferState.REQUESTED,
        offered_to__isnull=True,
        requested_at__lt=transfer.requested_at,
    ).count()
    return ahead_visitors + ahead_transfers + 1


def transfer_history(*, engagement_id: int) -> list[Transfer]:
    """Every transfer attempt of an engagement with its offers, oldest first (console and reports)."""
    return drawn_transfers(
        Transfer.objects.filter(engagement_id=engagement_id)
        .prefetch_related(Prefetch("offers", queryset=TransferOffer.objects.select_related("operator")))
        .order_by("requested_at", "pk")
    )


def open_transfer_of(*, engagement_id: int) -> Transfer | None:
    found = drawn_transfers(Transfer.objects.filter(engagement_id=engagement_id, state__in=OPEN_STATES)[:1])
    return found[0] if found else None


def accepted_transfer_target_name(*, engagement_id: int) -> str:
    """Who accepted the engagement's open transfer (Transfer Now not yet clicked); "" when none."""
    transfer = (
        Transfer.objects.filter(engagement_id=engagement_id, state=TransferState.ACCEPTED)
        .select_related("accepted_by")
        .first()
    )
    return transfer.accepted_by.display_name if transfer and transfer.accepted_by_id else ""


def pending_offers_for(*, operator: Operator) -> list[Transfer]:
    """Transfers offered to the operator and still waiting for their answer (prompts after a reload)."""
    return drawn_transfers(
        Transfer.objects.filter(state=TransferState.REQUESTED, offered_to=operator).order_by("expires_at")
    )


def outgoing_transfers_of(*, operator: Operator) -> list[Transfer]:
    """Open transfers the operator started, and accepted ones waiting for them to press Transfer Now."""
    return drawn_transfers(Transfer.objects.filter(initiator=operator, state__in=OPEN_STATES).order_by("requested_at"))


def may_see_transfers_of(*, operator: Operator, engagement_id: int) -> bool:
    """Owners past and present, and operators offered a transfer of it, may read its transfer history."""
    return (
        Engagement.objects.filter(pk=engagement_id)
        .filter(Q(ownerships__operator=operator) | Q(transfers__offers__operator=operator))
        .exists()
    )


def history_for_accepted_target(*, transfer_id: int, operator_id: int) -> dict | None:
    """The `transfer.history` frame for the operator who accepted, read now; None once the transfer
    is no longer theirs and open (cancelled, expired or handed over before this ran)."""
    engagement_id = (
        Transfer.objects.filter(pk=transfer_id, state=TransferState.ACCEPTED, accepted_by_id=operator_id)
        .values_list("engagement_id", flat=True)
        .first()
    )
    if engagement_id is None:
        return None
    messages = message_frames_after(engagement_id=engagement_id, after_seq=0)
    return frames.transfer_history_frame(transfer_id=transfer_id, engagement_id=engagement_id, messages=messages)


def transcript_before_hand_over(*, transfer: Transfer) -> list:
    """The chat as the initiator left it: every message up to the moment Transfer Now completed."""
    from helpdesk.models import Message

    return list(
        Message.objects.filter(engagement_id=transfer.engagement_id, created_at__lte=transfer.completed_at)
        .select_related("operator")
        .order_by("seq")
    )


# --- the initiator's read-only copies after Transfer Now ---------------------------------------------


def recent_window_start(now: datetime | None = None) -> datetime:
    """Completed transfers since then stay readable by their initiator (TRANSFER_RECENT_HOURS)."""
    return (now or timezone.now()) - timedelta(hours=settings.TRANSFER_RECENT_HOURS)


def _recent_completed_by(operator: Operator) -> QuerySet[Transfer]:
    return Transfer.objects.filter(
        initiator=operator, state=TransferState.COMPLETED, completed_at__gte=recent_window_start()
    ).select_related("engagement__visitor", "engagement__queue", "accepted_by")


def recently_transferred_by(*, operator: Operator) -> list[Transfer]:
    """The operator's transfers completed within the window, newest first, at most TRANSFER_RECENT_LIMIT."""
    return list(_recent_completed_by(operator).order_by("-completed_at", "-pk")[: settings.TRANSFER_RECENT_LIMIT])


def recent_transfer_of(*, operator: Operator, transfer_id: int) -> Transfer | None:
    """One of those, or None: not theirs, not completed, or older than the window."""
    return _recent_completed_by(operator).filter(pk=transfer_id).first()


def transfer_view(transfer: Transfer) -> dict:
    """A transfer as consoles draw it (`frames.transfer_payload`), with its place in the queue if it waits."""
    waiting = transfer.state == TransferState.REQUESTED and transfer.offered_to_id is None
    position = transfer_queue_position(transfer=transfer) if waiting else None
    return frames.transfer_payload(transfer, queue_position=position, now=timezone.now())
