"""A time-boxed wrap-up ends in a real Celery worker at its stored deadline: the task scheduled on
commit stores the queue's default disposition and gives the operator back to routing, once."""

import pytest

from helpdesk import tasks
from helpdesk.models import Availability, Engagement, Media, WrapUp, WrapUpMode
from helpdesk.services.engagements import end_engagement
from helpdesk.services.routing import route_engagement
from tests.factories import DispositionCodeFactory, EngagementFactory, OperatorFactory, QueueFactory, TeamFactory
from tests.processes import CeleryWorker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_time_boxed_wrap_up_ends_in_the_worker_with_the_default_and_routing_resumes():
    assert tasks.expire_wrap_up_task.acks_late
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], wrap_up_mode=WrapUpMode.TIMED, wrap_up_seconds=2)
    queue.default_disposition = DispositionCodeFactory(queue=queue, name="No outcome")
    queue.save()
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=1)
    worker = CeleryWorker(name="wrapup").start()
    try:
        engagement = EngagementFactory(queue=queue)
        assert route_engagement(engagement_id=engagement.pk) == operator
        end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)  # commits: timer sent
        wrap_up = WrapUp.objects.get(engagement=engagement)
        waiting = EngagementFactory(queue=queue)  # routing skips the operator while they wrap up
        assert route_engagement(engagement_id=waiting.pk) is None
        wait_until(
            lambda: not WrapUp.objects.get(pk=wrap_up.pk).is_open,
            timeout=15,
            message=lambda: f"the worker to end the wrap-up; worker:\n{worker.output()[-2000:]}",
        )
        wrap_up.refresh_from_db()
        # Routing resumed in the worker's transaction's on-commit: the waiting chat is theirs now.
        wait_until(lambda: Engagement.objects.get(pk=waiting.pk).owner_id == operator.pk, timeout=5)
    finally:
        worker.stop()
    assert wrap_up.ended_because == WrapUp.End.TIMED_OUT and wrap_up.disposition == queue.default_disposition
    assert wrap_up.ended_at >= wrap_up.deadline
    assert (wrap_up.ended_at - wrap_up.deadline).total_seconds() < 2  # on time, not left to a sweep
    assert Availability.objects.get(operator=operator, media=Media.CHAT).wrap_ups == 0
    # The same task delivered again does nothing.
    assert tasks.expire_wrap_up_task(wrap_up.pk) is False
    assert WrapUp.objects.get(pk=wrap_up.pk).ended_at == wrap_up.ended_at
