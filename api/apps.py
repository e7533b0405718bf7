from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API over the core, transfers and telephony; no models of its own."""

    name = "api"
    verbose_name = "REST API"
