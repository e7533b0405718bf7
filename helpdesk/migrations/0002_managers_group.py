"""The "Managers" group: its members administer the sites they are linked to (Site.managers)."""

from django.db import migrations

MANAGERS_GROUP = "Managers"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=MANAGERS_GROUP)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=MANAGERS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [("helpdesk", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_group, remove_group)]
