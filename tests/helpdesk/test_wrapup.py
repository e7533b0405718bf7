"""After-contact work (wrap-up) and dispositions: modes, required codes, the time-boxed default,
bad input refused with nothing written, and routing giving no work to an operator in wrap-up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.errors import CodeError, DomainError, WrapUpError
from helpdesk.models import Availability, DispositionCode, Engagement, Media, Ownership, WrapUp, WrapUpMode
from helpdesk.services.engagements import end_engagement, hand_over
from helpdesk.services.routing import route_engagement
from helpdesk.services.wrapup import (
    choose_disposition,
    expire_due_wrap_ups,
    expire_wrap_up,
    finish_wrap_up,
    skip_wrap_up,
)
from tests.factories import DispositionCodeFactory, EngagementFactory, OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db


def centre(mode, **queue_fields):
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], wrap_up_mode=mode, **queue_fields)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=2)
    return queue, operator


def routed(queue, operator):
    engagement = EngagementFactory(queue=queue)
    assert route_engagement(engagement_id=engagement.pk) == operator
    engagement.refresh_from_db()
    return engagement


def chat(operator):
    return Availability.objects.get(operator=operator, media=Media.CHAT)


def ended_chat(queue, operator) -> WrapUp | None:
    engagement = routed(queue, operator)
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.OPERATOR_ENDED, operator=operator)
    return WrapUp.objects.filter(engagement=engagement).first()


def test_no_wrap_up_mode_sends_the_operator_straight_back_to_work():
    queue, operator = centre(WrapUpMode.NONE)
    assert ended_chat(queue, operator) is None
    assert chat(operator).wrap_ups == 0 and chat(operator).has_room


def test_an_ended_chat_opens_a_wrap_up_and_routing_skips_the_operator_until_done():
    queue, operator = centre(WrapUpMode.MANDATORY)
    wrap_up = ended_chat(queue, operator)
    assert wrap_up.is_open and wrap_up.mode == "mandatory" and wrap_up.deadline is None
    assert wrap_up.ownership.ended_because == Ownership.End.ENDED
    assert chat(operator).wrap_ups == 1 and chat(operator).load == 0 and not chat(operator).has_room
    waiting = EngagementFactory(queue=queue)
    assert route_engagement(engagement_id=waiting.pk) is None

    finish_wrap_up(wrap_up_id=wrap_up.pk, operator=operator)
    wrap_up.refresh_from_db()
    assert wrap_up.ended_because == WrapUp.End.DONE and wrap_up.ended_at >= wrap_up.started_at
    assert chat(operator).wrap_ups == 0
    assert route_engagement(engagement_id=waiting.pk) == operator


def test_a_mandatory_wrap_up_cannot_be_skipped_an_optional_one_can():
    queue, operator = centre(WrapUpMode.MANDATORY)
    wrap_up = ended_chat(queue, operator)
    with pytest.raises(WrapUpError) as refused:
        skip_wrap_up(wrap_up_id=wrap_up.pk, operator=operator)
    assert refused.value.code == "cannot_skip" and refused.value.http_status == 409
    assert WrapUp.objects.get(pk=wrap_up.pk).is_open

    queue, operator = centre(WrapUpMode.OPTIONAL)
    wrap_up = ended_chat(queue, operator)
    skip_wrap_up(wrap_up_id=wrap_up.pk, operator=operator)
    assert WrapUp.objects.get(pk=wrap_up.pk).ended_because == WrapUp.End.SKIPPED
    assert chat(operator).wrap_ups == 0


def test_a_transfer_hand_over_opens_the_old_owners_wrap_up_only():
    queue, operator = centre(WrapUpMode.OPTIONAL)
    colleague = OperatorFactory(site=queue.site, teams=list(queue.teams.all()), available=["chat"])
    engagement = routed(queue, operator)
    hand_over(engagement_id=engagement.pk, to_operator_id=colleague.pk)
    wrap_up = WrapUp.objects.get(engagement=engagement)
    assert wrap_up.operator == operator and wrap_up.ownership.ended_because == Ownership.End.TRANSFERRED
    assert chat(colleague).wrap_ups == 0 and chat(colleague).load == 1


def test_required_disposition_is_refused_without_one_and_stored_with_one():
    queue, operator = centre(WrapUpMode.MANDATORY, disposition_required=True)
    resolved = DispositionCodeFactory(queue=queue, name="Resolved")
    wrap_up = ended_chat(queue, operator)
    with pytest.raises(CodeError) as refused:
        finish_wrap_up(wrap_up_id=wrap_up.pk, operator=operator)
    assert refused.value.code == "code_required" and refused.value.http_status == 400
    assert WrapUp.objects.get(pk=wrap_up.pk).is_open and chat(operator).wrap_ups == 1

    finish_wrap_up(wrap_up_id=wrap_up.pk, operator=operator, disposition_id=str(resolved.pk))
    wrap_up.refresh_from_db()
    assert wrap_up.disposition == resolved and not wrap_up.is_open
    # Done again is harmless: it comes back as it ended.
    assert finish_wrap_up(wrap_up_id=wrap_up.pk, operator=operator).disposition_id == resolved.pk


@pytest.mark.parametrize(
    ("which", "code"),
    [("unknown", "unknown_code"), ("inactive", "inactive_code"), ("other_queue", "other_queue"),
     ("transfer_kind", "unknown_code"), ("not_a_number", "invalid")],
)  # fmt: skip
def test_bad_dispositions_are_refused_and_nothing_is_written(which, code):
    queue, operator = centre(WrapUpMode.MANDATORY)
    value = {
        "unknown": 999_999,
        "inactive": lambda: DispositionCodeFactory(queue=queue, active=False).pk,
        "other_queue": lambda: DispositionCodeFactory().pk,
        "transfer_kind": lambda: DispositionCodeFactory(queue=queue, kind=DispositionCode.Kind.TRANSFER).pk,
        "not_a_number": "1; DROP",
    }[which]
    value = value() if callable(value) else value
    wrap_up = ended_chat(queue, operator)
    for act in (finish_wrap_up, choose_disposition):
        with pytest.raises(DomainError) as refused:
            act(wrap_up_id=wrap_up.pk, operator=operator, disposition_id=value)
        assert refused.value.code == code
    wrap_up.refresh_from_db()
    assert wrap_up.is_open and wrap_up.disposition_id is None and chat(operator).wrap_ups == 1


def test_another_operators_wrap_up_is_not_theirs():
    queue, operator = centre(WrapUpMode.OPTIONAL)
    wrap_up = ended_chat(queue, operator)
    stranger = OperatorFactory(site=queue.site)
    for act in (finish_wrap_up, skip_wrap_up):
        with pytest.raises(WrapUpError) as refused:
            act(wrap_up_id=wrap_up.pk, operator=stranger)
        assert refused.value.code == "not_yours" and refused.value.http_status == 403
    with pytest.raises(WrapUpError) as refused:
        finish_wrap_up(wrap_up_id=123_456_789, operator=operator)
    assert refused.value.http_status == 404
    assert WrapUp.objects.get(pk=wrap_up.pk).is_open


def test_time_boxed_wrap_up_ends_at_its_deadline_with_the_default_code_once():
    queue, operator = centre(WrapUpMode.TIMED, wrap_up_seconds=30)
    default = DispositionCodeFactory(queue=queue, name="No outcome")
    queue.default_disposition = default
    queue.save()
    wrap_up = ended_chat(queue, operator)
    assert wrap_up.deadline == wrap_up.started_at + timedelta(seconds=30)
    assert expire_wrap_up(wrap_up_id=wrap_up.pk) is None  # not due yet: nothing happens
    WrapUp.objects.filter(pk=wrap_up.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert expire_due_wrap_ups() == 1
    assert expire_due_wrap_ups() == 0 and expire_wrap_up(wrap_up_id=wrap_up.pk) is None
    wrap_up.refresh_from_db()
    assert wrap_up.ended_because == WrapUp.End.TIMED_OUT and wrap_up.disposition == default
    assert chat(operator).wrap_ups == 0 and chat(operator).has_room


def test_time_boxed_wrap_up_keeps_the_operators_choice_over_the_default():
    queue, operator = centre(WrapUpMode.TIMED, wrap_up_seconds=30)
    queue.default_disposition = DispositionCodeFactory(queue=queue)
    queue.save()
    chosen = DispositionCodeFactory(queue=queue, name="Sale")
    wrap_up = ended_chat(queue, operator)
    choose_disposition(wrap_up_id=wrap_up.pk, operator=operator, disposition_id=chosen.pk)
    WrapUp.objects.filter(pk=wrap_up.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    expire_wrap_up(wrap_up_id=wrap_up.pk)
    assert WrapUp.objects.get(pk=wrap_up.pk).disposition == chosen


def test_two_open_wrap_ups_keep_the_operator_out_until_both_end():
    queue, operator = centre(WrapUpMode.OPTIONAL)
    first, second = routed(queue, operator), routed(queue, operator)
    for engagement in (first, second):
        end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    assert chat(operator).wrap_ups == 2
    skip_wrap_up(wrap_up_id=WrapUp.objects.get(engagement=first).pk, operator=operator)
    assert chat(operator).wrap_ups == 1 and not chat(operator).has_room
    finish_wrap_up(wrap_up_id=WrapUp.objects.get(engagement=second).pk, operator=operator)
    assert chat(operator).wrap_ups == 0 and chat(operator).idle_since is not None
