"""The reports page: managers only, scoped to their sites, figures, charts and download buttons."""

import csv
import io
from datetime import UTC, date, timedelta

from django.urls import reverse
from django.utils import timezone

from reporting.scope import DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, UserFactory
from tests.reporting.conftest import DAY1, at, make_engagement

RANGE = "?start=2026-03-02&end=2026-03-03"


def test_manager_sees_figures_charts_and_downloads(world, client):
    client.force_login(world.manager)
    response = client.get(reverse("reporting:page") + RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="offered">6<' in html
    assert 'data-kpi="service_level">60.0 %<' in html  # 3 within threshold / 5
    assert 'data-kpi="asa">25 s<' in html
    assert html.count('<svg class="chart"') >= 2
    assert 'aria-label="Daily volume"' in html and 'aria-label="Daily wait in queue"' in html
    assert "/reports/export/engagements.csv?start=2026-03-02&amp;end=2026-03-03" in html
    assert "/reports/export/messages.xlsx?" in html
    assert "<td>2026-03-02</td>" in html  # the by-day breakdown


def test_breakdown_by_queue(world, client):
    client.force_login(world.manager)
    html = client.get(reverse("reporting:page") + RANGE + "&by=queue").content.decode()
    assert "<td>Q1 (Lyon)</td>" in html and "<td>Q2 (Lyon)</td>" in html
    assert "/reports/export/metrics_by_queue.csv" in html


def test_page_of_another_sites_manager_shows_nothing_of_this_site(world, client):
    other_queue = QueueFactory(site=world.other_site, name="Elsewhere")
    make_engagement(other_queue, at(DAY1, 10), answered=5, ended=60)
    client.force_login(ManagerFactory(username="manager_b", sites=[world.other_site]))
    html = client.get(reverse("reporting:page") + RANGE + f"&site={world.site.pk}&by=queue").content.decode()
    assert "Lyon" not in html and "Alice" not in html
    assert 'data-kpi="offered">1<' in html


def test_user_text_is_escaped_on_the_page(world, client):
    world.q1.name = "<script>alert(1)</script>"
    world.q1.save()
    client.force_login(world.manager)
    html = client.get(reverse("reporting:page") + RANGE + "&by=queue").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_page_needs_a_manager(world, client):
    response = client.get(reverse("reporting:page"))
    assert response.status_code == 302
    client.force_login(OperatorFactory(site=world.site).user)
    assert client.get(reverse("reporting:page")).status_code == 403
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert client.get(reverse("reporting:page") + RANGE).status_code == 200


def test_bad_dates_are_reported_not_crashed(world, client):
    client.force_login(world.manager)
    response = client.get(reverse("reporting:page") + "?start=2026-03-05&end=2026-03-01")
    assert response.status_code == 200
    assert "The start date is after the end date." in response.content.decode()
    assert client.get(reverse("reporting:page") + "?start=garbage&site=abc").status_code == 200


def default_days():
    """The default range: the last 7 days up to today, in the report's zone (the site's: UTC here)."""
    today = timezone.now().astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(DEFAULT_RANGE_DAYS - 1, -1, -1)]


def test_a_range_too_long_shows_its_error_and_reports_the_default_range(world, client):
    """2025-03-01..2026-03-03 is 367 days apart: refused, and not used (the figures are the last 7 days')."""
    client.force_login(world.manager)
    response = client.get(reverse("reporting:page") + "?start=2025-03-01&end=2026-03-03&by=day")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Pick at most {MAX_RANGE_DAYS} days." in html
    assert response.context["scope"].days == default_days()
    assert [row["label"] for row in response.context["breakdown"]] == [d.isoformat() for d in default_days()]
    assert 'data-kpi="offered">0<' in html  # the hand-made days (March 2026) are outside the default range
    assert "<td>2025-03-01</td>" not in html
    # The same 367 days through an export link: the default range too, never the whole year.
    too_long = "?start=2025-03-01&end=2026-03-03"
    export = client.get(reverse("reporting:export", args=["metrics_by_day", "csv"]) + too_long)
    rows = list(csv.reader(io.StringIO(b"".join(export).decode())))
    assert [row[0] for row in rows[1:]] == [d.isoformat() for d in default_days()]


def test_start_after_end_shows_its_error_and_reports_the_default_range(world, client):
    client.force_login(world.manager)
    response = client.get(reverse("reporting:page") + "?start=2026-03-03&end=2026-03-02")
    assert "The start date is after the end date." in response.content.decode()
    assert response.context["scope"].days == default_days()
    # A valid range of exactly 366 days apart is kept.
    response = client.get(reverse("reporting:page") + "?start=2025-03-02&end=2026-03-03")
    assert "Pick at most" not in response.content.decode()
    days = response.context["scope"].days
    assert (days[0], days[-1], len(days)) == (date(2025, 3, 2), date(2026, 3, 3), 367)


def test_a_decline_reason_with_a_script_is_shown_escaped(world, client):
    """An operator's free-text decline reason reaches the manager's page (Decline reasons chart): as text only."""
    from tests.reporting.test_transfer_and_call_metrics import make_transfer, offer

    payload = "<script>alert('decline')</script>"
    attribute = '"><img src=x onerror=alert(2)>'
    transfer = make_transfer(
        world.engagements["e1"], world.op1, state="declined", requested=40, answered=45, target=world.op2
    )
    offer(transfer, world.op2, "declined", payload)
    offer(transfer, world.op2, "declined", attribute)
    client.force_login(world.manager)
    html = client.get(reverse("reporting:page") + RANGE).content.decode()
    chart = html[html.index('aria-label="Decline reasons"') :]
    chart = chart[: chart.index("</svg>")]
    assert "&lt;script&gt;alert(&#x27;decline&#x27;)&lt;/script&gt;" in chart
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in chart
    assert payload not in html and "<img src=x" not in html and "alert('decline')" not in html
