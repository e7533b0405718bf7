"""The console and the visitor pages, rendered by the server."""

from __future__ import annotations

import pytest
from django.urls import resolve, reverse

from helpdesk.models import Engagement, Message
from helpdesk.services.engagements import add_note, post_message, start_chat
from helpdesk.visitor_tokens import engagement_id_from_token, make_visitor_token
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)><b>bold</b>'


def chat_setup(**queue_kwargs):
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], **queue_kwargs)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"])
    return queue, operator


def token_for(engagement: Engagement) -> str:
    return make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)


def test_console_requires_login_and_an_operator(client):
    response = client.get(reverse("console"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(UserFactory())
    assert client.get(reverse("console")).status_code == 403


def test_home_sends_operators_to_the_console(client):
    _, operator = chat_setup()
    client.force_login(operator.user)
    assert client.get("/")["Location"] == reverse("console")


def test_console_renders_availability_engagements_queues_and_the_transfer_hooks(client):
    queue, operator = chat_setup()
    engagement = start_chat(queue=queue, visitor_name="Vera")
    post_message(engagement_id=engagement.pk, sender=Message.Sender.VISITOR, body="hi")
    client.force_login(operator.user)
    html = client.get(reverse("console")).content.decode()
    for needle in ('data-media="chat"', 'data-media="voice"', 'data-media="video"', "Vera", queue.name):
        assert needle in html
    assert 'class="badge badge-count unread">1<' in html
    assert 'id="end-engagement"' in html and "js/console/console.js" in html


def test_visitor_start_lists_chat_queues_and_starts_a_chat(client):
    queue, operator = chat_setup(is_default=True)
    QueueFactory(site=queue.site, name="Phones", media="voice")
    page = client.get(reverse("visitor_start")).content.decode()
    assert queue.name in page and "Phones" not in page
    response = client.post(reverse("visitor_start"), {"queue": queue.pk, "name": "Vera"})
    assert response.status_code == 302
    engagement = Engagement.objects.get()
    assert engagement.visitor.name == "Vera" and engagement.queue == queue
    # The token is timestamped, so one made here may differ by a second: check what it opens.
    match = resolve(response["Location"])
    assert match.url_name == "visitor_chat"
    assert engagement_id_from_token(match.kwargs["token"]) == engagement.pk


def test_visitor_start_uses_the_site_default_queue_when_none_is_picked(client):
    site = SiteFactory()
    default = QueueFactory(site=site, is_default=True)
    QueueFactory(site=site)
    response = client.post(f"{reverse('visitor_start')}?site={site.pk}", {"name": ""})
    assert response.status_code == 302
    assert Engagement.objects.get().queue == default


def test_visitor_start_refuses_a_too_long_name(client):
    queue, _ = chat_setup(is_default=True)
    response = client.post(reverse("visitor_start"), {"queue": queue.pk, "name": "x" * 101})
    assert response.status_code == 400 and not Engagement.objects.exists()


def test_visitor_chat_page_restores_the_whole_conversation(client):
    queue, operator = chat_setup()
    engagement = start_chat(queue=queue, visitor_name="Vera")
    post_message(engagement_id=engagement.pk, sender=Message.Sender.VISITOR, body="first")
    post_message(engagement_id=engagement.pk, sender=Message.Sender.OPERATOR, body="second", operator=operator)
    html = client.get(reverse("visitor_chat", args=[token_for(engagement)])).content.decode()
    assert html.index("first") < html.index("second")
    assert operator.display_name in html and 'data-last-seq="2"' in html


def test_visitor_chat_page_refuses_a_bad_token(client):
    assert client.get(reverse("visitor_chat", args=["1:forged:token"])).status_code == 404


def test_visitor_page_never_shows_notes(client):
    queue, operator = chat_setup()
    engagement = start_chat(queue=queue, visitor_name="Vera")
    engagement.refresh_from_db()
    add_note(engagement_id=engagement.pk, author=operator, body="secret internal note")
    html = client.get(reverse("visitor_chat", args=[token_for(engagement)])).content.decode()
    assert "secret internal note" not in html


def test_user_text_is_escaped_in_both_pages(client):
    """Script and markup in names and messages render as text on the server-rendered pages."""
    queue, operator = chat_setup()
    engagement = start_chat(queue=queue, visitor_name=XSS[:100])
    post_message(engagement_id=engagement.pk, sender=Message.Sender.VISITOR, body=XSS)
    visitor_html = client.get(reverse("visitor_chat", args=[token_for(engagement)])).content.decode()
    client.force_login(operator.user)
    console_html = client.get(reverse("console")).content.decode()
    for html in (visitor_html, console_html):
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in visitor_html
    assert "&lt;script&gt;" in console_html
