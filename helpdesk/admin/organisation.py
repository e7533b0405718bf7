"""Sites, teams and operators: what a manager configures."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation
from django.db import transaction
from django.utils.html import format_html, format_html_join

from helpdesk.models import Availability, Operator, Site, Team
from helpdesk.services.presence import ensure_availabilities

from .scoping import SiteScopedAdmin, SiteScopedMixin

User = get_user_model()


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin):
    site_path = "pk"
    manager_can_add = manager_can_delete = False  # sites are created by the company's superusers
    list_display = ["name", "time_zone", "team_count", "operator_count"]
    search_fields = ["name"]
    filter_horizontal = ["managers"]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["managers"]

    @admin.display(description="teams")
    def team_count(self, site):
        return site.teams.count()

    @admin.display(description="operators")
    def operator_count(self, site):
        return site.operators.count()


class TeamMembershipInline(SiteScopedMixin, admin.TabularInline):
    """The operators of a team, edited from the team's page."""

    model = Operator.teams.through
    site_path = "team__site"
    extra = 1
    verbose_name = "operator"
    verbose_name_plural = "operators"
    autocomplete_fields = ["operator"]


@admin.register(Team)
class TeamAdmin(SiteScopedAdmin):
    list_display = ["name", "site", "operator_count"]
    list_filter = ["site"]
    search_fields = ["name", "site__name"]
    inlines = [TeamMembershipInline]

    @admin.display(description="operators")
    def operator_count(self, team):
        return team.operators.count()


class AvailabilityCapacityForm(forms.ModelForm):
    class Meta:
        model = Availability
        fields = ["capacity"]

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        if self.instance.pk and capacity < self.instance.load:
            raise forms.ValidationError(
                f"They hold {self.instance.load} now: capacity cannot go below that until they finish."
            )
        return capacity


class AvailabilityInline(SiteScopedMixin, admin.TabularInline):
    """Current availability per media. The status is the operator's own to set (console);
    a manager adjusts capacity."""

    model = Availability
    form = AvailabilityCapacityForm
    site_path = "operator__site"
    fields = ["media", "status", "changed_at", "load", "capacity"]
    readonly_fields = ["media", "status", "changed_at", "load"]
    extra = 0
    can_delete = False
    manager_can_add = manager_can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OperatorCreationForm(forms.ModelForm):
    """A new operator is a new login too: the manager sets the user name and a first password."""

    username = forms.CharField(max_length=150, help_text="What they log in with.")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = Operator
        fields = ["display_name", "site", "teams"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That user name is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(password)
            except forms.ValidationError as error:
                self.add_error("password", error)
        teams_of_site_only(self)
        return cleaned

    def save(self, commit=True):
        operator = super().save(commit=False)
        operator.user = User.objects.create_user(
            username=self.cleaned_data["username"],
            email=self.cleaned_data["email"],
            password=self.cleaned_data["password"],
        )
        if commit:
            operator.save()
            self.save_m2m()
        return operator


def teams_of_site_only(form) -> None:
    """An operator (or queue) belongs to one site: its teams must be that site's teams."""
    site = form.cleaned_data.get("site")
    teams = form.cleaned_data.get("teams")
    if site and teams:
        others = [team.name for team in teams if team.site_id != site.pk]
        if others:
            form.add_error("teams", f"Not teams of {site}: {', '.join(others)}.")


class OperatorChangeForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["display_name", "site", "teams"]

    def clean(self):
        cleaned = super().clean()
        teams_of_site_only(self)
        return cleaned


@admin.register(Operator)
class OperatorAdmin(SiteScopedAdmin):
    list_display = ["display_name", "username", "email", "site", "team_names", "availability"]
    list_filter = ["site", "teams"]
    search_fields = ["display_name", "user__username", "user__email", "teams__name"]
    list_select_related = ["user", "site"]
    filter_horizontal = ["teams"]
    inlines = [AvailabilityInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams", "availabilities")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = OperatorChangeForm if obj else OperatorCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj:
            return ["display_name", "site", "teams"]
        return ["username", "email", "password", "display_name", "site", "teams"]

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            ensure_availabilities(operator=obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    @admin.display(ordering="user__username")
    def username(self, operator):
        return operator.user.username

    @admin.display(ordering="user__email")
    def email(self, operator):
        return operator.user.email

    @admin.display(description="teams")
    def team_names(self, operator):
        return ", ".join(team.name for team in operator.teams.all())

    @admin.display(description="availability")
    def availability(self, operator):
        return format_html_join(
            " ",
            '<span title="{}: {}">{} {}</span>',
            (
                (row.get_media_display(), row.get_status_display(), row.get_media_display(), _status_mark(row.status))
                for row in operator.availabilities.all()
            ),
        ) or format_html("<em>—</em>")


def _status_mark(status: str) -> str:
    return {"available": "●", "busy": "◐", "away": "◌", "offline": "○"}[status]
