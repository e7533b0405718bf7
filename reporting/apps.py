from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """Report figures, the reports page and the exports; no models of its own."""

    name = "reporting"
    verbose_name = "Reporting"
