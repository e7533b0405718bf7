"""Admin actions that export the change list as CSV or XLSX.

Django hands an action the change list's own queryset: the ModelAdmin's `get_queryset`
(so a manager's site scoping applies), narrowed by the current filters, search and date
drill-down, then to the ticked rows unless "select all N" was chosen. The export streams
exactly that queryset, so what a manager downloads is what the change list shows them.

The domain admins know nothing of reporting: `attach_export_actions` (called from
`ReportingConfig.ready`, after django.contrib.admin has autodiscovered every admin module)
adds the actions to the registered ModelAdmin of each dataset's model.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.utils import timezone

from .exports import DATASETS, streaming_response

# The raw datasets exported from their model's change list.
ADMIN_EXPORTS = ("engagements", "availability_log", "transfers", "calls")


def export_action(dataset_name: str, fmt: str):
    """An admin action exporting the selected (or all filtered) rows of `dataset_name` as `fmt`."""
    dataset = DATASETS[dataset_name]

    @admin.action(description=f"Export selected {dataset.title.lower()} as {fmt.upper()}")
    def action(modeladmin, request, queryset):
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return streaming_response(
            title=dataset.title,
            columns=dataset.columns,
            rows=lambda: dataset.rows_of(queryset),
            csv_blocks=lambda: dataset.csv_of(queryset),
            fmt=fmt,
            filename=f"{dataset.name}_{stamp}.{fmt}",
        )

    action.__name__ = f"export_{dataset_name}_{fmt}"
    return action


def export_actions(dataset_name: str) -> list:
    """The CSV and the XLSX export action for one dataset."""
    return [export_action(dataset_name, "csv"), export_action(dataset_name, "xlsx")]


def attach_export_actions(site: admin.AdminSite = admin.site) -> None:
    """Add each dataset's export actions to its model's registered admin, after the admin's own actions.

    Run once the admins are registered (django.contrib.admin's ready autodiscovers them, and it is
    listed before reporting). A model without an admin gets none; running twice adds nothing twice.
    """
    for name in ADMIN_EXPORTS:
        attach_dataset_export_actions(name, site)


def attach_dataset_export_actions(name: str, site: admin.AdminSite = admin.site) -> None:
    """The CSV/XLSX actions of one dataset on its model's admin (apps above reporting, such as
    supervision, call this from their own ready() for the datasets they register)."""
    model = apps.get_model(DATASETS[name].model)
    try:
        model_admin = site.get_model_admin(model)
    except NotRegistered:
        return
    actions = list(model_admin.actions or ())
    known = {getattr(action, "__name__", action) for action in actions}
    actions += [action for action in export_actions(name) if action.__name__ not in known]
    model_admin.actions = actions
