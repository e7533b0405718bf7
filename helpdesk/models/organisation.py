from django.conf import settings
from django.db import models


class Site(models.Model):
    """A contact centre location; managers manage sites, everything else belongs to one."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, used in exports.")
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_sites", help_text="Users who manage this site."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Team(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="team_name_unique_per_site")]

    def __str__(self):
        return f"{self.name} ({self.site})"


class Operator(models.Model):
    """The working profile of a user who handles engagements.

    Capacity and availability per media live on `Availability` rows, one per media.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="operators")
    teams = models.ManyToManyField(Team, blank=True, related_name="operators")
    display_name = models.CharField(max_length=100)

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name

    @property
    def email(self) -> str:
        return self.user.email
