"""factory_boy factories for every model the tests build. One file for the whole suite."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Media, Message, Note, Operator, Queue, Site, Team, Visitor
from helpdesk.services.presence import ensure_availabilities

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "password")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class OperatorFactory(factory.django.DjangoModelFactory):
    """An operator with availability rows on every media (offline unless `available=[...]`)."""

    class Meta:
        model = Operator
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    site = factory.SubFactory(SiteFactory)
    display_name = factory.Sequence(lambda n: f"Operator {n}")

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.teams.set(extracted)

    @factory.post_generation
    def available(self, create, extracted, **kwargs):
        """available=["chat"] marks the operator available on those media (with capacity `chat_capacity`)."""
        if not create:
            return
        ensure_availabilities(operator=self)
        for media in extracted or ():
            Availability.objects.filter(operator=self, media=media).update(
                status=Availability.Status.AVAILABLE, idle_since=timezone.now()
            )

    @factory.post_generation
    def chat_capacity(self, create, extracted, **kwargs):
        if create and extracted is not None:
            Availability.objects.filter(operator=self, media=Media.CHAT).update(capacity=extracted)


class ManagerFactory(UserFactory):
    """A staff user in the Managers group, managing `sites`."""

    is_staff = True

    @factory.post_generation
    def sites(self, create, extracted, **kwargs):
        if not create:
            return
        group, _ = Group.objects.get_or_create(name="Managers")
        self.groups.add(group)
        for site in extracted or ():
            site.managers.add(self)


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Queue {n}")
    media = Media.CHAT

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.teams.set(extracted)


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    name = factory.Sequence(lambda n: f"Visitor {n}")


class EngagementFactory(factory.django.DjangoModelFactory):
    """A waiting engagement by default; use `helpdesk.services` to route or end it."""

    class Meta:
        model = Engagement

    queue = factory.SubFactory(QueueFactory)
    site = factory.SelfAttribute("queue.site")
    visitor = factory.SubFactory(VisitorFactory)
    media = factory.SelfAttribute("queue.media")
    queued_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    engagement = factory.SubFactory(EngagementFactory)
    seq = factory.Sequence(lambda n: n + 1)
    sender = Message.Sender.VISITOR
    body = "Hello"


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    engagement = factory.SubFactory(EngagementFactory)
    body = "A note"
