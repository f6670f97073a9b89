# An export record is marked 'uploading' while (and, should its attempt be given up, after)
# its file is uploaded: the next attempt must not deliver it a second time.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exports", "0002_export_version")]

    operations = [
        migrations.AlterField(
            model_name="exportrecord",
            name="state",
            field=models.CharField(
                choices=[
                    ("written", "Written"),
                    ("uploading", "Uploading"),
                    ("delivered", "Delivered"),
                    ("failed", "Failed"),
                ],
                default="written",
                max_length=20,
            ),
        ),
    ]
