from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    name = "supervision"
    verbose_name = "Supervision"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Reporting sits below supervision: supervision registers its audit datasets and puts the
        # export actions on its own admin (django.contrib.admin has autodiscovered it by now).
        from helpdesk.signals import engagement_ended
        from reporting.admin_actions import attach_dataset_export_actions

        from . import receivers
        from .exports import register_datasets

        engagement_ended.connect(receivers.close_watches_of_ended_engagement, dispatch_uid="supervision.close_watches")

        register_datasets()
        attach_dataset_export_actions("supervisor_acts")
        attach_dataset_export_actions("admin_changes")
