from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission

from helpdesk.services.engagements import start_chat
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory
from tests.transfers.conftest import give_engagement


def make_supervisor(operator):
    """Give an operator the supervise permission (the "Supervisors" group): they supervise their site.

    The group comes from a data migration; a transactional test's flush removes it, so make sure."""
    group, _ = Group.objects.get_or_create(name="Supervisors")
    group.permissions.add(Permission.objects.get(content_type__app_label="supervision", codename="supervise"))
    operator.user.groups.add(group)
    return operator


@pytest.fixture
def floor(db):
    """A site with two queues, two operators, a team lead who supervises it, a manager of it, and a
    second site whose manager must be refused everything here."""
    site = SiteFactory(name="Lyon")
    team = TeamFactory(site=site, name="Front")
    general = QueueFactory(site=site, name="General chat", teams=[team], is_default=True)
    billing = QueueFactory(site=site, name="Billing chat", teams=[team])
    alice = OperatorFactory(site=site, display_name="Alice Archer", teams=[team], available=["chat"])
    bob = OperatorFactory(site=site, display_name="Bob Baker", teams=[team], available=["chat"])
    lead = make_supervisor(
        OperatorFactory(site=site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[])
    )
    lead2 = make_supervisor(
        OperatorFactory(site=site, display_name="Tess Lead", user=UserFactory(username="tess"), teams=[])
    )
    manager = ManagerFactory(sites=[site])
    other_site = SiteFactory(name="Oslo")
    stranger = ManagerFactory(sites=[other_site])
    return SimpleNamespace(
        site=site,
        team=team,
        general=general,
        billing=billing,
        alice=alice,
        bob=bob,
        lead=lead,
        lead2=lead2,
        manager=manager,
        other_site=other_site,
        stranger=stranger,
    )


@pytest.fixture
def chat(floor):
    """A chat of the General queue that Alice holds."""
    return give_engagement(owner=floor.alice, queue=floor.general, visitor_name="Vera Visitor")


__all__ = ["give_engagement", "make_supervisor", "start_chat"]
