"""A small contact centre for call tests: a Sales line served by A, Resolution Specialists by B and C."""

from dataclasses import dataclass

import pytest

from helpdesk.models import Availability, Media, Operator, Queue
from telephony import services
from telephony.models import Call, Leg
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory


@dataclass
class Centre:
    sales: Queue
    resolution: Queue
    a: Operator
    b: Operator
    c: Operator

    def call(self, pk: int) -> Call:
        return Call.objects.select_related("engagement").get(pk=pk)

    def legs(self, call: Call) -> dict[str, Leg]:
        """Open legs by role: customer, owner, consult (ended ones only if nothing open)."""
        legs = list(Leg.objects.filter(call=call).order_by("pk"))
        found = {}
        for leg in legs:
            found.setdefault(leg.kind, leg)
            if leg.is_open:
                found[leg.kind] = leg
        return found

    def leg_of(self, call: Call, operator: Operator) -> Leg:
        return Leg.objects.filter(call=call, operator=operator).order_by("-pk").first()

    def answered_call(self, caller_name: str = "Pat Caller") -> Call:
        call = services.place_call(queue=self.sales, caller_name=caller_name)
        services.answer_leg(leg_id=self.leg_of(call, self.a).pk, operator=self.a)
        return self.call(call.pk)

    def consulting(self, target: Operator | None = None) -> Call:
        """A answered a call and B (or `target`) answered A's consult."""
        call = self.answered_call()
        target = target or self.b
        leg = services.start_consult(call_id=call.pk, operator=self.a, operator_id=target.pk)
        services.answer_leg(leg_id=leg.pk, operator=target)
        return self.call(call.pk)

    def conferencing(self) -> Call:
        call = self.consulting()
        services.conference(call_id=call.pk, operator=self.a)
        return self.call(call.pk)


def voice(operator: Operator) -> Availability:
    return Availability.objects.get(operator=operator, media=Media.VOICE)


@pytest.fixture
def centre(transactional_db) -> Centre:
    site = SiteFactory(name="London")
    front, specialists = TeamFactory(site=site, name="Front line"), TeamFactory(site=site, name="Specialists")
    sales = QueueFactory(site=site, name="Sales line", media=Media.VOICE, teams=[front], accept_timeout_seconds=20)
    resolution = QueueFactory(site=site, name="Resolution Specialists", media=Media.VOICE, teams=[specialists])
    a = OperatorFactory(site=site, display_name="Alice Archer", teams=[front], available=[Media.VOICE])
    b = OperatorFactory(site=site, display_name="Bob Baker", teams=[specialists], available=[Media.VOICE])
    c = OperatorFactory(site=site, display_name="Carol Chen", teams=[specialists], available=[Media.VOICE])
    return Centre(sales=sales, resolution=resolution, a=a, b=b, c=c)
