"""Create or reuse the demo console administrator and its TOTP device, and print how to sign in (DEBUG only)."""
from __future__ import annotations

import base64
import json
import secrets
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identity.demo import credential_lines
from identity.models import User

CREDENTIALS_FILE = settings.BASE_DIR / "var" / "demo-admin.json"
DEVICE_NAME = "demo"


def totp_now(key_hex: str, *, at: float | None = None) -> str:
    """The code an authenticator app shows now for this key (RFC 6238: SHA-1, 6 digits, 30 seconds)."""
    from django_otp.oath import TOTP

    totp = TOTP(bytes.fromhex(key_hex), step=30, digits=6)
    totp.time = at if at is not None else time.time()
    return f"{totp.token():06d}"


class Command(BaseCommand):
    help = "Create or reuse the demo super admin and its TOTP device (only with DEBUG on) and print its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--code", action="store_true", help="Print only the current TOTP code.")

    def handle(self, *args, username: str, code: bool = False, **options) -> None:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if not settings.DEBUG:
            raise CommandError("demo_admin only runs with DEBUG on; use createsuperuser in production.")
        stored = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}
        if code:
            if not stored.get("totp_key"):
                raise CommandError("No demo admin yet: run `python manage.py demo_admin` first.")
            self.stdout.write(totp_now(stored["totp_key"]))
            return
        password = stored.get("password") or secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_superuser(username, password)
            elif not user.check_password(password) or user.role != User.Role.SUPER_ADMIN:
                user.set_password(password)
                user.role = User.Role.SUPER_ADMIN
                user.save(update_fields=["password", "role"])
            device = TOTPDevice.objects.filter(user=user, name=DEVICE_NAME).first()
            if device is None or (stored.get("totp_key") and device.key != stored["totp_key"]):
                key = stored.get("totp_key") or secrets.token_hex(20)
                if device is None:
                    device = TOTPDevice(user=user, name=DEVICE_NAME)
                device.key, device.confirmed = key, True
                device.save()
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        CREDENTIALS_FILE.write_text(json.dumps({"username": username, "password": password, "totp_key": device.key}))
        CREDENTIALS_FILE.chmod(0o600)
        secret = base64.b32encode(bytes.fromhex(device.key)).decode().rstrip("=")
        self.stdout.write(
            "\n  Console:     http://127.0.0.1:8000/admin/\n"
            f"  Username:    {username}\n"
            f"  Password:    {password}\n"
            f"  TOTP secret: {secret}   (add it to any authenticator app, or use the link below)\n"
            f"  TOTP link:   {device.config_url}\n"
            f"  Code now:    {totp_now(device.key)}   (a new one: python manage.py demo_admin --code)\n"
        )
        self.stdout.write(credential_lines())
