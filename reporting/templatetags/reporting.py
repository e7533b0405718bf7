"""Formatting for the reports page: percentages, durations and the CSV/XLSX download buttons."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.filter
def percent(value):
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"


@register.filter
def duration(seconds):
    """Seconds as 42 s, 3 m 05 s or 2 h 04 m; a dash when there is nothing to measure."""
    if seconds is None:
        return "—"
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} m {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} m"


@register.filter
def get(mapping, key):
    return mapping.get(key, "")


@register.simple_tag
def downloads(dataset: str, query: str = ""):
    """CSV and XLSX buttons for one dataset, carrying the page's filters."""
    suffix = f"?{query}" if query else ""
    csv_url = reverse("reporting:export", args=[dataset, "csv"]) + suffix
    xlsx_url = reverse("reporting:export", args=[dataset, "xlsx"]) + suffix
    return format_html(
        '<span class="downloads" data-dataset="{}"><a class="btn btn-sm" href="{}" download>CSV</a>'
        '<a class="btn btn-sm" href="{}" download>XLSX</a></span>',
        dataset,
        csv_url,
        xlsx_url,
    )
