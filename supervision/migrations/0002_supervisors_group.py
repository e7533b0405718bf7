"""The "Supervisors" group, holding the supervise permission (editable in the admin like any group)."""

from django.db import migrations


def create_group(apps, schema_editor):
    # The permission normally appears on post_migrate; create it here so the group can hold it now.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="supervision", model="supervisoract")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="supervise",
        defaults={"name": "Can supervise their own site (wallboard, monitor, whisper, barge, take over)"},
    )
    group, _ = Group.objects.get_or_create(name="Supervisors")
    group.permissions.add(permission)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Supervisors").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("supervision", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
