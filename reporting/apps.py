from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """Report figures, the reports page and the exports; no models of its own."""

    name = "reporting"
    verbose_name = "Reporting"

    def ready(self):
        # django.contrib.admin is installed before reporting, so its ready() has already
        # autodiscovered and registered every domain admin by now.
        from .admin_actions import attach_export_actions

        attach_export_actions()
