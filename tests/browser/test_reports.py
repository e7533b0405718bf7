"""The reports page in Chromium: a manager picks dates and filters, sees figures and charts, downloads an export."""

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpdesk.models import AvailabilityLog
from tests.browser.conftest import screenshot
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.reporting.conftest import make_engagement
from transfers.models import Transfer, TransferOffer

pytestmark = pytest.mark.browser

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def busy_week(transactional_db):
    """A week of chats on two queues with waits, abandons and transfers with reasons."""
    site = SiteFactory(name="Lyon", time_zone="UTC")
    team = TeamFactory(site=site, name="Support")
    sales = QueueFactory(site=site, name="Sales", service_level_seconds=20, teams=[team])
    billing = QueueFactory(site=site, name="Billing", service_level_seconds=30, teams=[team])
    alice = OperatorFactory(site=site, display_name="Alice Martin", teams=[team])
    bob = OperatorFactory(site=site, display_name="Bob Durand", teams=[team])
    reasons = ["Too busy", "Wrong skill", "Too busy", "", "Going on break"]
    for day in range(7):
        for n in range(4 + (day * 3) % 7):
            queue = sales if n % 3 else billing
            created = START + timedelta(days=day, hours=9 + n, minutes=7 * n)
            wait = 5 + (n * 11 + day * 7) % 50
            if n % 5 == 4:
                make_engagement(queue, created, ended=wait)  # abandoned
                continue
            owner = alice if (n + day) % 2 else bob
            other = bob if owner == alice else alice
            end = wait + 240 + 30 * n
            transferred = n % 3 == 1 and (n + day) % 2 == 1
            owners = (
                [(owner, wait, wait + 90, "routed", "transferred"), (other, wait + 90, end, "transferred", "ended")]
                if transferred
                else [(owner, wait, end, "routed", "ended")]
            )
            engagement = make_engagement(queue, created, answered=wait, ended=end, owners=owners)
            if n % 3 == 1:
                reason = reasons[(n + day) % len(reasons)]
                declined = not transferred
                transfer = Transfer.objects.create(
                    engagement=engagement,
                    initiator=owner,
                    target_operator=other,
                    state="declined" if declined else "completed",
                    accepted_by=None if declined else other,
                    reason_text=reason if declined else "",
                    accept_timeout_seconds=30,
                    requested_at=created + timedelta(seconds=wait + 60),
                    answered_at=created + timedelta(seconds=wait + 60 + 4 + n),
                    ended_at=created + timedelta(seconds=wait + 70 + n),
                )
                TransferOffer.objects.create(
                    transfer=transfer,
                    operator=other,
                    outcome="declined" if declined else "accepted",
                    reason_text=transfer.reason_text,
                    offered_at=transfer.requested_at,
                    expires_at=transfer.requested_at + timedelta(seconds=30),
                    answered_at=transfer.answered_at,
                )
        for index, operator in enumerate((alice, bob)):
            shift = START + timedelta(days=day, hours=8 + index)
            for status, hours in (("available", 5), ("busy", 1.5), ("away", 0.5), ("available", 2)):
                AvailabilityLog.objects.create(
                    operator=operator,
                    media="chat",
                    status=status,
                    started_at=shift,
                    ended_at=shift + timedelta(hours=hours),
                )
                shift += timedelta(hours=hours)
    add_wrap_ups_and_reasons([sales, billing])
    return {"manager": ManagerFactory(username="manager", sites=[site]), "billing": billing}


def add_wrap_ups_and_reasons(queues) -> None:
    """After-contact work with dispositions on every finished stretch, and reason codes on the transfers that went
    through (issue 14.6's section of the page)."""
    from helpdesk.models import Ownership
    from helpdesk.models.wrapup import DispositionCode, WrapUp

    codes = {
        q.pk: [DispositionCode.objects.create(queue=q, code=c, name=n) for c, n in
               (("resolved", "Resolved"), ("callback", "Call back"), ("info", "Information given"))]
        for q in queues
    }  # fmt: skip
    reason = {q.pk: DispositionCode.objects.create(queue=q, kind="transfer", code="skill", name="Needs another skill")
              for q in queues}  # fmt: skip
    Transfer.objects.filter(state="completed").update(reason=list(reason.values())[0])
    for n, stretch in enumerate(Ownership.objects.filter(ended_at__isnull=False).select_related("engagement")):
        engagement = stretch.engagement
        WrapUp.objects.create(
            ownership=stretch, engagement=engagement, operator_id=stretch.operator_id, queue_id=engagement.queue_id,
            media="chat", mode="optional", started_at=stretch.ended_at,
            ended_at=stretch.ended_at + timedelta(seconds=20 + (n * 17) % 70), ended_because="done",
            disposition=codes[engagement.queue_id][n % 5 % 3] if n % 7 else None,
        )  # fmt: skip


def test_manager_filters_sees_charts_and_downloads(busy_week, new_page):
    page = new_page(user=busy_week["manager"], path="/reports/?start=2026-03-02&end=2026-03-08")
    assert page.locator("h1").inner_text() == "Reports"
    volume = page.locator("#chart-volume svg.chart")
    assert volume.is_visible() and volume.bounding_box()["height"] > 100
    assert page.locator("#chart-volume rect.bar.s1").count() == 7  # one answered bar per day
    assert page.locator("#chart-wait path.line").count() == 2
    assert page.locator("#chart-declines svg").is_visible()
    offered_all = int(page.locator('[data-kpi="offered"]').inner_text())
    screenshot(page, "reports_week")
    # Issue 14.6: the interval table by 15 minutes, transfer flow and reasons, after-contact work.
    page.click("#intervals-section .segmented a:has-text('15 min')")
    page.wait_for_url("**interval=15*")
    assert page.locator("#intervals tbody tr").count() == offered_all  # every chat arrived in its own quarter hour
    assert page.locator("#chart-intervals rect.bar").count() > 0
    assert "Needs another skill" in page.locator("#chart-transfer-reasons").inner_text()
    assert page.locator("#wrap-up-operators tbody tr").count() == 2
    assert page.locator("#chart-dispositions rect").count() >= 3
    page.locator("#transfer-flow-section").screenshot(path="var/screenshots/reports_transfer_flow.png")
    page.locator("#wrap-up-section").screenshot(path="var/screenshots/reports_wrap_up.png")
    page.locator("#intervals-section").screenshot(path="var/screenshots/reports_intervals.png")
    page.locator(".export-list").screenshot(path="var/screenshots/reports_exports.png")
    for name in ("engagements", "messages", "notes", "transfers", "calls", "legs", "availability_log"):
        assert page.locator(f'.export-list [data-dataset="{name}"] a').count() == 2
        assert page.locator(f'.export-list [data-dataset="{name}"] a').first.is_visible(), name

    page.select_option("select[name=queue]", label="Billing (Lyon)")
    page.click("button:has-text('Apply')")
    page.wait_for_url("**queue=*")
    offered_billing = int(page.locator('[data-kpi="offered"]').inner_text())
    assert 0 < offered_billing < offered_all
    page.click(".segmented a:has-text('Operator')")
    page.wait_for_url("**by=operator*")
    assert page.locator("#breakdown tbody tr").count() == 2
    assert "Alice Martin" in page.locator("#breakdown").inner_text()
    screenshot(page, "reports_billing_by_operator")

    with page.expect_download() as download_info:
        page.locator('.export-list [data-dataset="engagements"] a:has-text("CSV")').click()
    download = download_info.value
    assert download.suggested_filename == "engagements_2026-03-02_2026-03-08.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["id", "site", "queue"]
    assert len(rows) - 1 == offered_billing and {r[2] for r in rows[1:]} == {"Billing"}

    with page.expect_download() as download_info:
        page.locator('.export-list [data-dataset="messages"] a:has-text("XLSX")').click()
    assert download_info.value.suggested_filename.endswith(".xlsx")


def test_api_docs_render_from_our_own_static_files(busy_week, new_page):
    """The Swagger UI at /api/docs/ loads (sidecar files, no CDN) and lists the endpoints."""
    page = new_page(user=busy_week["manager"], path="/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    text = page.locator(".swagger-ui").inner_text()
    assert "/api/engagements/{id}/notes/" in text and "/api/metrics/" in text
    screenshot(page, "api_docs")
