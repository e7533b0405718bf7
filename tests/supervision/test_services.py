"""Every supervisor act at the service level: what it does, what it records, and who is refused."""

import pytest

from helpdesk.models import Availability, Engagement, Message, Note, Ownership
from supervision import services
from supervision.errors import NotSupervisor, SupervisionError
from supervision.models import SupervisorAct, Watch
from supervision.permissions import supervised_site_ids
from tests.factories import OperatorFactory
from tests.supervision.conftest import give_engagement

pytestmark = pytest.mark.django_db


def acts(**filters) -> list[tuple[str, str]]:
    return [(a.actor.username, a.act) for a in SupervisorAct.objects.filter(**filters).order_by("pk")]


def test_who_supervises_which_site(floor):
    assert supervised_site_ids(floor.lead.user) == [floor.site.pk]
    assert supervised_site_ids(floor.manager) == [floor.site.pk]
    assert supervised_site_ids(floor.alice.user) == []  # a plain operator supervises nothing
    assert supervised_site_ids(floor.stranger) == [floor.other_site.pk]


def test_watching_is_one_open_watch_recorded_once_and_marks_nothing_read(floor, chat):
    before = Ownership.objects.get(engagement=chat, ended_at__isnull=True).last_read_seq
    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.start_watching(supervisor=floor.lead2.user, engagement_id=chat.pk)  # several may watch
    assert Watch.objects.filter(engagement=chat, ended_at__isnull=True).count() == 2
    assert Ownership.objects.get(engagement=chat, ended_at__isnull=True).last_read_seq == before
    assert not Message.objects.filter(engagement=chat).exists()  # the visitor is told nothing
    services.stop_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    assert acts(engagement=chat) == [("sam", "monitor_start"), ("tess", "monitor_start"), ("sam", "monitor_stop")]


def test_a_whisper_is_a_note_from_the_supervisor_never_a_chat_line(floor, chat):
    note = services.whisper(supervisor=floor.lead.user, engagement_id=chat.pk, body="Offer the refund")
    assert (note.source, note.supervisor, note.author) == ("whisper", floor.lead.user, None)
    assert not Message.objects.filter(engagement=chat).exists()
    assert acts(engagement=chat) == [("sam", "whisper")]


def test_barge_tells_the_visitor_once_then_the_supervisors_lines_reach_them(floor, chat):
    with pytest.raises(SupervisionError) as refused:
        services.say_in_conversation(supervisor=floor.lead.user, engagement_id=chat.pk, body="Hi")
    assert refused.value.code == "not_joined"
    services.join_conversation(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.join_conversation(supervisor=floor.lead.user, engagement_id=chat.pk)
    line = services.say_in_conversation(supervisor=floor.lead.user, engagement_id=chat.pk, body="I can help too")
    assert (line.sender, line.supervisor) == ("supervisor", floor.lead.user)
    lines = list(Message.objects.filter(engagement=chat).order_by("seq").values_list("sender", "body"))
    assert lines == [("system", "Sam Lead (supervisor) joined the chat."), ("supervisor", "I can help too")]
    assert acts(engagement=chat) == [("sam", "barge")]


def test_take_over_makes_the_supervisor_the_owner_with_one_line_for_the_visitor(floor, chat):
    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.take_over(supervisor=floor.lead.user, engagement_id=chat.pk, expected_owner_id=floor.alice.pk)
    chat.refresh_from_db()
    assert chat.owner == floor.lead
    stretches = list(chat.ownerships.order_by("started_at").values_list("operator_id", "ended_because"))
    assert stretches == [(floor.alice.pk, "taken_over"), (floor.lead.pk, "")]
    assert Availability.objects.get(operator=floor.alice, media="chat").load == 0
    assert list(Message.objects.filter(engagement=chat).values_list("body", flat=True)) == [
        "You are now talking to Sam Lead."
    ]
    assert not Watch.objects.filter(engagement=chat, supervisor=floor.lead.user, ended_at__isnull=True).exists()


def test_a_second_take_over_of_the_same_chat_is_told_who_has_it(floor, chat):
    services.take_over(supervisor=floor.lead.user, engagement_id=chat.pk, expected_owner_id=floor.alice.pk)
    with pytest.raises(SupervisionError) as refused:
        services.take_over(supervisor=floor.lead2.user, engagement_id=chat.pk, expected_owner_id=floor.alice.pk)
    assert refused.value.code == "already_taken" and "Sam Lead" in refused.value.message
    assert Engagement.objects.get(pk=chat.pk).owner == floor.lead


def test_a_manager_without_an_operator_profile_cannot_take_over(floor, chat):
    with pytest.raises(SupervisionError) as refused:
        services.take_over(supervisor=floor.manager, engagement_id=chat.pk)
    assert refused.value.code == "no_operator_profile"


def test_reassign_a_chat_to_an_operator_or_a_queue(floor, chat):
    services.reassign(supervisor=floor.manager, engagement_id=chat.pk, to_operator_id=floor.bob.pk)
    chat.refresh_from_db()
    assert chat.owner == floor.bob
    assert list(chat.ownerships.values_list("ended_because", "started_because")) == [
        ("reassigned", "routed"),
        ("", "assigned"),
    ]
    Availability.objects.filter(operator__in=[floor.alice, floor.bob]).update(status="offline")
    services.reassign(supervisor=floor.manager, engagement_id=chat.pk, to_queue_id=floor.billing.pk)
    chat.refresh_from_db()
    assert (chat.state, chat.queue, chat.owner) == ("queued", floor.billing, None)
    assert chat.answered_at is not None  # answered once, whatever happens next
    assert [d for _, d in SupervisorAct.objects.order_by("pk").values_list("act", "detail")] == [
        "to Bob Baker",
        "to queue Billing chat",
    ]


def test_reassign_a_waiting_engagement_to_an_operator(floor):
    Availability.objects.filter(operator__in=[floor.alice, floor.bob]).update(status="away")
    waiting = services_start_waiting(floor)
    Availability.objects.filter(operator=floor.bob, media="chat").update(status="available")
    services.reassign(supervisor=floor.lead.user, engagement_id=waiting.pk, to_operator_id=floor.bob.pk)
    waiting.refresh_from_db()
    assert (waiting.state, waiting.owner) == ("active", floor.bob)
    assert waiting.ownerships.get().started_because == "assigned"


def test_reassign_to_an_operator_who_cannot_take_it_changes_nothing(floor, chat):
    Availability.objects.filter(operator=floor.bob, media="chat").update(status="away")
    with pytest.raises(SupervisionError) as refused:
        services.reassign(supervisor=floor.lead.user, engagement_id=chat.pk, to_operator_id=floor.bob.pk)
    assert refused.value.code == "target_unavailable"
    assert Engagement.objects.get(pk=chat.pk).owner == floor.alice
    assert not SupervisorAct.objects.exists()


def test_force_offline_sends_every_chat_back_in_order_and_nobody_is_left_alone(floor, chat):
    second = give_engagement(owner=floor.alice, queue=floor.general, visitor_name="Second")
    Availability.objects.filter(operator=floor.bob, media="chat").update(status="away")
    assert services.force_offline(supervisor=floor.lead.user, operator_id=floor.alice.pk) == 2
    assert set(Availability.objects.filter(operator=floor.alice).values_list("status", flat=True)) == {"offline"}
    waiting = list(Engagement.objects.filter(state="queued").order_by("queued_at", "pk"))
    assert waiting == [chat, second]  # first come, first back
    assert all(e.owner_id is None for e in waiting)
    assert acts(operator=floor.alice) == [("sam", "force_offline")]


@pytest.mark.parametrize("who", ["operator", "other_site_manager"])
@pytest.mark.parametrize(
    "act",
    ["watch", "stop", "whisper", "barge", "say", "take_over", "reassign", "force_offline"],
)
def test_every_act_is_refused_to_an_operator_and_another_sites_manager_and_changes_nothing(floor, chat, who, act):
    user = floor.bob.user if who == "operator" else floor.stranger
    call = {
        "watch": lambda: services.start_watching(supervisor=user, engagement_id=chat.pk),
        "stop": lambda: services.stop_watching(supervisor=user, engagement_id=chat.pk),
        "whisper": lambda: services.whisper(supervisor=user, engagement_id=chat.pk, body="psst"),
        "barge": lambda: services.join_conversation(supervisor=user, engagement_id=chat.pk),
        "say": lambda: services.say_in_conversation(supervisor=user, engagement_id=chat.pk, body="hi"),
        "take_over": lambda: services.take_over(supervisor=user, engagement_id=chat.pk),
        "reassign": lambda: services.reassign(supervisor=user, engagement_id=chat.pk, to_queue_id=floor.billing.pk),
        "force_offline": lambda: services.force_offline(supervisor=user, operator_id=floor.alice.pk),
    }[act]
    if act == "take_over" and who == "other_site_manager":
        OperatorFactory(site=floor.other_site, user=floor.stranger)  # has a profile, still not theirs
        floor.stranger.refresh_from_db()
    with pytest.raises((NotSupervisor, SupervisionError)) as refused:
        call()
    assert refused.value.code in ("not_supervisor", "no_operator_profile")
    assert refused.value.http_status in (403, 409)
    chat.refresh_from_db()
    assert (chat.state, chat.owner) == ("active", floor.alice)
    assert not SupervisorAct.objects.exists() and not Watch.objects.exists()
    assert not Note.objects.filter(source="whisper").exists() and not Message.objects.exists()
    assert Availability.objects.get(operator=floor.alice, media="chat").status == "available"


def services_start_waiting(floor):
    from helpdesk.services.engagements import start_chat

    engagement = start_chat(queue=floor.general, visitor_name="Walt Waiting")
    engagement.refresh_from_db()
    assert engagement.state == "queued"
    return engagement
