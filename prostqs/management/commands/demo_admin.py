"""Create or reuse the demo console administrator and print how to log in (DEBUG only)."""
from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from identity.demo import credential_lines
from identity.models import User

CREDENTIALS_FILE = settings.BASE_DIR / "var" / "demo-admin.json"


class Command(BaseCommand):
    help = "Create or reuse the demo super admin (only with DEBUG on) and print its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_admin only runs with DEBUG on; use createsuperuser in production.")
        stored = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}
        password = stored.get("password") or secrets.token_urlsafe(12)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username, password)
        elif not user.check_password(password):
            user.set_password(password)
            user.role = User.Role.SUPER_ADMIN
            user.save(update_fields=["password", "role"])
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        CREDENTIALS_FILE.write_text(json.dumps({"username": username, "password": password}))
        CREDENTIALS_FILE.chmod(0o600)
        self.stdout.write(
            "\n  Console:  http://127.0.0.1:8000/admin/\n"
            f"  Username: {username}\n"
            f"  Password: {password}\n"
        )
        self.stdout.write(credential_lines())
