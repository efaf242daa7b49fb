"""``python manage.py create_demo_user``: alice with the same password as authdemo's demo user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME, PASSWORD = "alice", "alice-password"


class Command(BaseCommand):
    help = "Create (or reset) the demo user alice / alice-password."

    def handle(self, *args, **options):
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        user.set_password(PASSWORD)
        user.save()
        self.stdout.write(f"{USERNAME} ready")
