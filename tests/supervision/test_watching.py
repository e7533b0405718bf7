"""/supervisor/watching/: what the operator console redraws its "watched by" badges from after each
`hello` (the core's hello cannot carry supervision's watchers)."""

import pytest

from supervision import services
from tests.factories import UserFactory
from tests.supervision.conftest import give_engagement

pytestmark = pytest.mark.django_db

URL = "/supervisor/watching/"


def test_the_owner_gets_who_watches_each_of_their_live_chats(floor, chat, client):
    quiet = give_engagement(owner=floor.alice, queue=floor.general, visitor_name="Quinn Quiet")
    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.join_conversation(supervisor=floor.lead2.user, engagement_id=chat.pk)
    client.force_login(floor.alice.user)
    answer = client.get(URL).json()["engagements"]
    by_id = {frame["engagement_id"]: frame for frame in answer}
    assert set(by_id) == {chat.pk, quiet.pk}
    assert by_id[quiet.pk] == {"type": "engagement.watchers", "engagement_id": quiet.pk, "watchers": []}
    watchers = by_id[chat.pk]["watchers"]
    assert [(w["name"], w["mode"]) for w in watchers] == [("Sam Lead", "watch"), ("Tess Lead", "barge")]


def test_a_stopped_watch_and_another_operators_chat_are_not_listed(floor, chat, client):
    bobs = give_engagement(owner=floor.bob, queue=floor.general, visitor_name="Bea")
    services.start_watching(supervisor=floor.lead.user, engagement_id=bobs.pk)
    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.stop_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    client.force_login(floor.alice.user)
    assert client.get(URL).json()["engagements"] == [
        {"type": "engagement.watchers", "engagement_id": chat.pk, "watchers": []}
    ]


def test_only_signed_in_operators_may_ask(floor, client):
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(UserFactory())
    answer = client.get(URL)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_operator"
    client.force_login(floor.alice.user)
    assert client.post(URL).status_code == 405
