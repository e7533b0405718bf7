"""The acts of a supervisor, one function each. Every act checks on the server that the user supervises
the site concerned, writes through the core's services, records a `SupervisorAct` in the same
transaction, and publishes on commit.

Race-safety: acts on one engagement lock its row (through the core's services, or here), so two
supervisors taking over the same chat at once have one winner; the other is told who has it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from helpdesk.errors import ChatError
from helpdesk.frames import name_of_user
from helpdesk.lock_objects import lock_engagement
from helpdesk.models import Availability, Engagement, Media, Message, Note, Operator, Ownership
from helpdesk.services.engagements import add_note, hand_over, post_message, post_system_message
from helpdesk.services.presence import set_offline_everywhere
from helpdesk.services.reassignment import assign_waiting_engagement, requeue_engagement

from . import events
from .errors import SupervisionError
from .models import Act, SupervisorAct, Watch, WatchMode
from .permissions import require_supervisor_of


def record(*, actor, site_id: int, act: str, engagement_id: int | None = None, operator_id=None, detail=""):
    """One row of the audit trail (call inside the act's transaction, so an act that fails leaves none)."""
    return SupervisorAct.objects.create(
        actor=actor, site_id=site_id, act=act, engagement_id=engagement_id, operator_id=operator_id, detail=detail[:300]
    )


def _supervised_engagement(user, engagement_id: int, *, lock: bool = False) -> Engagement:
    engagement = lock_engagement(engagement_id) if lock else Engagement.objects.filter(pk=engagement_id).first()
    if engagement is None:
        raise SupervisionError("not_found", "No such engagement.", http_status=404)
    require_supervisor_of(user, engagement.site_id)
    return engagement


def _refuse_call(engagement: Engagement) -> None:
    """A call's barge and take over move its legs too: they are supervision/voice.py's acts."""
    if engagement.media == Media.VOICE:
        raise SupervisionError("is_call", "This is a call: barge or take over from Live calls.")


def _open_watch(user, engagement: Engagement) -> Watch | None:
    return Watch.objects.filter(supervisor=user, engagement=engagement, ended_at__isnull=True).first()


def start_watching(*, supervisor, engagement_id: int) -> Watch:
    """Open an engagement read-only: nothing is marked read and the visitor is never told; its owner's
    console shows who is watching. Watching twice is one watch."""
    with transaction.atomic():
        engagement = _supervised_engagement(supervisor, engagement_id, lock=True)
        watch = _open_watch(supervisor, engagement)
        if watch is not None:
            return watch
        watch = Watch.objects.create(supervisor=supervisor, engagement=engagement, mode=WatchMode.WATCH)
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.MONITOR_START,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
        )
        events.watchers_changed(engagement)
    return watch


def stop_watching(*, supervisor, engagement_id: int) -> None:
    """Close the supervisor's watch (and their place in the conversation, if they had joined it)."""
    with transaction.atomic():
        engagement = _supervised_engagement(supervisor, engagement_id, lock=True)
        watch = _open_watch(supervisor, engagement)
        if watch is None:
            return
        watch.ended_at = timezone.now()
        watch.save(update_fields=["ended_at"])
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.MONITOR_STOP,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
        )
        events.watchers_changed(engagement)


def whisper(*, supervisor, engagement_id: int, body: object) -> Note:
    """A line only the operator (and other supervisors) see: kept in the engagement's notes, marked as
    the supervisor's, never shown to the visitor."""
    with transaction.atomic():
        engagement = _supervised_engagement(supervisor, engagement_id)
        if engagement.state != Engagement.State.ACTIVE:
            raise SupervisionError("not_active", "Nobody is handling this conversation to whisper to.")
        note = add_note(
            engagement_id=engagement.pk, author=None, body=body, source=Note.Source.WHISPER, supervisor=supervisor
        )
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.WHISPER,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
        )
        events.whispered(note)
    return note


def join_conversation(*, supervisor, engagement_id: int) -> Watch:
    """Barge: the supervisor joins the chat; from now on the visitor sees their lines. The visitor is
    told once, with a system line."""
    with transaction.atomic():
        engagement = _supervised_engagement(supervisor, engagement_id, lock=True)
        _refuse_call(engagement)
        if engagement.state != Engagement.State.ACTIVE:
            raise SupervisionError("not_active", "You can join a conversation while someone handles it.")
        watch = _open_watch(supervisor, engagement)
        if watch is not None and watch.mode == WatchMode.BARGE:
            return watch
        if watch is None:
            watch = Watch.objects.create(supervisor=supervisor, engagement=engagement, mode=WatchMode.BARGE)
        else:
            watch.mode = WatchMode.BARGE
            watch.save(update_fields=["mode"])
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.BARGE,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
        )
        post_system_message(engagement=engagement, body=f"{name_of_user(supervisor)} (supervisor) joined the chat.")
        events.watchers_changed(engagement)
    return watch


def say_in_conversation(*, supervisor, engagement_id: int, body: object, client_id: str | None = None) -> Message:
    """A line of a supervisor who joined the chat (see `join_conversation`); the visitor sees it."""
    engagement = _supervised_engagement(supervisor, engagement_id)
    watch = _open_watch(supervisor, engagement)
    if watch is None or watch.mode != WatchMode.BARGE:
        raise SupervisionError("not_joined", "Join the conversation before writing to the visitor.")
    return post_message(
        engagement_id=engagement.pk,
        sender=Message.Sender.SUPERVISOR,
        body=body,
        supervisor=supervisor,
        client_id=client_id,
    )


def taker_of(supervisor, engagement: Engagement, *, expected_owner_id: int | None, what: str) -> Operator:
    """The operator profile a take over gives the engagement to, once the act may go ahead: the
    supervisor has a profile, someone handles the engagement, and nobody took it over already (nor
    does anyone but `expected_owner_id`, when given, own it). Call holding the engagement's lock."""
    operator = getattr(supervisor, "operator", None)
    if operator is None:
        raise SupervisionError("no_operator_profile", "Only a supervisor with an operator profile can take over.")
    if engagement.state != Engagement.State.ACTIVE:
        raise SupervisionError("not_active", f"Only a {what} someone is handling can be taken over.")
    if engagement.owner_id == operator.pk:
        return operator
    taken_over_already = Ownership.objects.filter(
        engagement=engagement, ended_at__isnull=True, started_because=Ownership.Start.TAKEN_OVER
    ).exists()
    if taken_over_already or (expected_owner_id is not None and engagement.owner_id != expected_owner_id):
        owner = Operator.objects.get(pk=engagement.owner_id)
        raise SupervisionError("already_taken", f"{owner.display_name} has this {what} now.")
    return operator


def take_over(*, supervisor, engagement_id: int, expected_owner_id: int | None = None) -> Engagement:
    """The supervisor becomes the owner: the operator is released and the visitor sees one clear line.

    Only one supervisor takes over: the engagement row is locked, and when `expected_owner_id` (the
    owner the supervisor saw) no longer owns it, the act is refused with who has it now. The
    supervisor needs an operator profile with room on the engagement's media.
    """
    with transaction.atomic():
        # Permission first: another site's manager learns nothing about the engagement or themselves.
        engagement = _supervised_engagement(supervisor, engagement_id, lock=True)
        _refuse_call(engagement)
        operator = taker_of(supervisor, engagement, expected_owner_id=expected_owner_id, what="conversation")
        if engagement.owner_id == operator.pk:
            return engagement
        previous_owner_id = engagement.owner_id
        try:
            hand_over(
                engagement_id=engagement.pk,
                to_operator_id=operator.pk,
                because=Ownership.Start.TAKEN_OVER,
                announce=f"You are now talking to {operator.display_name}.",
            )
        except ChatError as error:
            raise SupervisionError(error.code, error.message) from None
        Watch.objects.filter(engagement=engagement, supervisor=supervisor, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.TAKE_OVER,
            engagement_id=engagement.pk,
            operator_id=previous_owner_id,
        )
        events.taken_over(engagement, previous_owner_id=previous_owner_id, by=operator)
        events.watchers_changed(engagement)
    return engagement


def reassign(
    *, supervisor, engagement_id: int, to_operator_id: int | None = None, to_queue_id: int | None = None
) -> Engagement:
    """Give a chat (or a waiting engagement) to a chosen operator, or put it in a chosen queue.

    Race-safe like routing: the engagement's row lock decides one winner between this, routing,
    a transfer's hand-over or another supervisor; the loser is told it moved on.
    """
    if (to_operator_id is None) == (to_queue_id is None):
        raise SupervisionError("no_target", "Pick one operator or one queue.", http_status=400)
    engagement = _supervised_engagement(supervisor, engagement_id)
    if engagement.media == Media.VOICE and (to_queue_id is None or engagement.state != Engagement.State.QUEUED):
        # A call's owner changes with its legs (ringing, the owner's leg): routing and Take over do that.
        raise SupervisionError(
            "is_call", "A call goes to an operator by routing or Take over; a waiting call can move to another queue."
        )
    with transaction.atomic():
        try:
            if to_queue_id is not None:
                moved = requeue_engagement(engagement_id=engagement.pk, queue_id=to_queue_id)
                detail = f"to queue {moved.queue.name}"
            else:
                target = Operator.objects.filter(pk=to_operator_id).first()
                if target is None:
                    raise SupervisionError("not_found", "That operator does not exist.", http_status=400)
                require_supervisor_of(supervisor, target.site_id)
                moved = _give_to_operator(engagement.pk, target)
                detail = f"to {target.display_name}"
        except ChatError as error:
            raise SupervisionError(error.code, error.message) from None
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.REASSIGN,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
            detail=detail,
        )
    return moved


def _give_to_operator(engagement_id: int, target: Operator) -> Engagement:
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if engagement.state == Engagement.State.QUEUED:
            return assign_waiting_engagement(engagement_id=engagement_id, operator_id=target.pk)
        if engagement.state == Engagement.State.ENDED:
            raise ChatError("ended", "This conversation has ended.")
        availability = Availability.objects.filter(operator=target, media=engagement.media).first()
        if availability is None or not availability.has_room:
            raise ChatError("target_unavailable", f"{target.display_name} is not available with room for it right now.")
        hand_over(
            engagement_id=engagement_id,
            to_operator_id=target.pk,
            because=Ownership.Start.ASSIGNED,
            announce=f"You are now chatting with {target.display_name}.",
        )
        return Engagement.objects.get(pk=engagement_id)


def force_offline(*, supervisor, operator_id: int) -> int:
    """Take an operator offline on every media; their chats go back to waiting, in the order they came,
    ahead of later arrivals, so nobody is left alone. Returns how many chats went back. (Calls in
    progress stay with the operator: nobody is cut off mid-call; they get no new ones.)"""
    operator = Operator.objects.filter(pk=operator_id).select_related("user").first()
    if operator is None:
        raise SupervisionError("not_found", "That operator does not exist.", http_status=404)
    require_supervisor_of(supervisor, operator.site_id)
    with transaction.atomic():
        set_offline_everywhere(operator=operator, reason="forced_offline")
        chats = list(
            Engagement.objects.filter(owner=operator, state=Engagement.State.ACTIVE, media=Media.CHAT)
            .order_by("queued_at", "pk")
            .values_list("pk", flat=True)
        )
        for engagement_id in chats:
            requeue_engagement(engagement_id=engagement_id)
        record(
            actor=supervisor,
            site_id=operator.site_id,
            act=Act.FORCE_OFFLINE,
            operator_id=operator.pk,
            detail=f"{len(chats)} chats back in the queue",
        )
        events.forced_offline(operator, by=supervisor)
    return len(chats)
