"""python manage.py audit_checkpoint [--dir DIR]: sign the chain head and write it outside the database."""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.services import checkpoint_sign


class Command(BaseCommand):
    help = ("Sign the audit chain head (sequence, hash, time) with the Ed25519 key from AUDIT_CHECKPOINT_KEY and "
            "write it to AUDIT_CHECKPOINT_DIR (or --dir).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", dest="directory", default=None, help="where to write the checkpoint")

    def handle(self, *args, directory: str | None, **options) -> None:
        try:
            checkpoint = checkpoint_sign(directory=directory)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"checkpoint written: {checkpoint.path} (sequence {checkpoint.sequence}, hash "
                          f"{checkpoint.hash[:16]}…, key {checkpoint.key_id})")
