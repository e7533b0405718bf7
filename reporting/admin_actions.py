"""Admin actions that export the change list as CSV or XLSX.

Django hands an action the change list's own queryset: the ModelAdmin's `get_queryset`
(so a manager's site scoping applies), narrowed by the current filters, search and date
drill-down, then to the ticked rows unless "select all N" was chosen. The export streams
exactly that queryset, so what a manager downloads is what the change list shows them.

Wire them in with ``actions = [*export_actions("engagements")]`` on a ModelAdmin whose
model is the dataset's model.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from .exports import DATASETS, streaming_response


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
