"""Conferences and cold transfers in the reports, from calls driven through call control.

Three calls today, on two voice lines of one site:

| call | line    | what happens                                                   | conf. | cold |
|------|---------|----------------------------------------------------------------|-------|------|
| c1   | Sales   | Alice consults Bob, conference, releases (Bob keeps the call)  | 1     | 0    |
| c2   | Support | Dan consults Carol, cold transfer (cold transfers allowed)      | 0     | 1    |
| c3   | Sales   | Alice answers and hangs up                                      | 0     | 0    |

So: total 3 calls, 1 conference, 1 cold transfer; Sales 2 calls (1, 0), Support 1 call (0, 1).
"""

import csv
import io
from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from helpdesk.models import Media, Operator, Queue
from reporting import metrics
from reporting.scope import build_scope
from telephony import services
from telephony.models import Leg
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Calls:
    site: object
    sales: Queue
    support: Queue
    manager: object
    today: str

    def scope(self):
        day = timezone.now().date()
        return build_scope(sites=[self.site], start_date=day, end_date=day)


def ringing_leg(call, operator: Operator) -> Leg:
    return Leg.objects.get(call=call, operator=operator, state=Leg.State.RINGING)


@pytest.fixture
def calls(transactional_db) -> Calls:
    site = SiteFactory(name="Leeds", time_zone="UTC")
    front, support_team, specialists = (TeamFactory(site=site, name=n) for n in ("Front", "Support", "Specialists"))
    sales = QueueFactory(site=site, name="Sales", media=Media.VOICE, teams=[front])
    support = QueueFactory(site=site, name="Support", media=Media.VOICE, teams=[support_team])
    support.cold_transfer_allowed = True
    support.save()
    QueueFactory(site=site, name="Specialist line", media=Media.VOICE, teams=[specialists])
    alice = OperatorFactory(site=site, display_name="Alice", teams=[front], available=[Media.VOICE])
    dan = OperatorFactory(site=site, display_name="Dan", teams=[support_team], available=[Media.VOICE])
    bob = OperatorFactory(site=site, display_name="Bob", teams=[specialists], available=[Media.VOICE])
    carol = OperatorFactory(site=site, display_name="Carol", teams=[specialists], available=[Media.VOICE])

    c1 = services.place_call(queue=sales, caller_name="First")
    services.answer_leg(leg_id=ringing_leg(c1, alice).pk, operator=alice)
    consult = services.start_consult(call_id=c1.pk, operator=alice, operator_id=bob.pk)
    services.answer_leg(leg_id=consult.pk, operator=bob)
    services.conference(call_id=c1.pk, operator=alice)
    services.release_call(call_id=c1.pk, operator=alice)

    c2 = services.place_call(queue=support, caller_name="Second")
    services.answer_leg(leg_id=ringing_leg(c2, dan).pk, operator=dan)
    consult = services.start_consult(call_id=c2.pk, operator=dan, operator_id=carol.pk)
    services.answer_leg(leg_id=consult.pk, operator=carol)
    services.cold_transfer(call_id=c2.pk, operator=dan)

    c3 = services.place_call(queue=sales, caller_name="Third")
    alice_leg = ringing_leg(c3, alice)
    services.answer_leg(leg_id=alice_leg.pk, operator=alice)
    services.hang_up(leg_id=alice_leg.pk, operator=alice)

    manager = ManagerFactory(username="calls_manager", sites=[site])
    return Calls(site, sales, support, manager, timezone.now().date().isoformat())


def test_totals_and_per_queue(calls):
    total = metrics.call_metrics(scope=calls.scope(), by="total")[0]
    assert (total["calls"], total["conferences"], total["cold_transfers"]) == (3, 1, 1)
    # Both moved on through a consult: Bob by release, Carol by the cold transfer.
    assert total["call_transfers"] == 2
    by_queue = {
        row["label"]: (row["calls"], row["conferences"], row["cold_transfers"])
        for row in metrics.call_metrics(scope=calls.scope(), by="queue")
    }
    assert by_queue == {"Sales (Leeds)": (2, 1, 0), "Support (Leeds)": (1, 0, 1)}
    by_day = metrics.call_metrics(scope=calls.scope(), by="day")
    assert [(r["label"], r["conferences"], r["cold_transfers"]) for r in by_day] == [(calls.today, 1, 1)]


def test_a_range_without_calls_counts_zero_not_empty(calls):
    scope = calls.scope()
    scope.site_ids = []
    total = metrics.call_metrics(scope=scope, by="total")[0]
    assert (total["calls"], total["conferences"], total["cold_transfers"]) == (0, 0, 0)


def test_api_export_and_page_show_the_counts(calls, client):
    query = f"?start={calls.today}&end={calls.today}"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=calls.manager)[0].key}")
    body = api.get(f"/api/metrics/{query}&by=queue").json()
    assert {r["label"]: (r["conferences"], r["cold_transfers"]) for r in body["calls"]} == {
        "Sales (Leeds)": (1, 0),
        "Support (Leeds)": (0, 1),
    }

    client.force_login(calls.manager)
    response = client.get(reverse("reporting:export", args=["metrics_calls", "csv"]) + query)
    rows = list(csv.reader(io.StringIO(b"".join(response).decode())))
    header = rows[0]
    assert rows[1][header.index("group")] == calls.today
    assert (rows[1][header.index("conferences")], rows[1][header.index("cold_transfers")]) == ("1", "1")

    html = client.get(reverse("reporting:page") + query).content.decode()
    table = html[html.index('id="calls"') :]
    table = table[: table.index("</table>")]
    cells = [cell.split("<")[0] for cell in table.split('<td class="num">')[1:]]
    assert cells[:5] == ["3", "2", "2", "1", "1"]  # calls, consults, call transfers, conferences, cold transfers
