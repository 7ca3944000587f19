"""Re-encrypt every secret under the newest master key (safe to interrupt and run again)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import scope
from infrastructure import crypto
from infrastructure.services.secrets import RewrapReport, secrets_rewrap


class Command(BaseCommand):
    help = ("Re-encrypt every secret under the first key of SECRETS_MASTER_KEYS. Each batch commits on its own: "
            "interrupting is safe, and running it again finishes the rest.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, batch_size: int, **options) -> None:
        ring = crypto.keyring()
        self.stdout.write(f"Rewrapping secrets under master key {ring.primary!r} "
                          f"(keyring: {', '.join(ring.keys)}).")

        def progress(report: RewrapReport) -> None:
            done = report.already_current + report.rewrapped + len(report.failed)
            self.stdout.write(f"  {done}/{report.total} under the newest key or checked "
                              f"({report.rewrapped} rewrapped in this run, {len(report.failed)} unreadable)")
            self.stdout.flush()

        with scope(actor_type="system", actor_id=None, app_id=None):
            report = secrets_rewrap(batch_size=max(1, batch_size), progress=progress)
        self.stdout.write(f"Done: {report.rewrapped} rewrapped, {report.already_current} already under "
                          f"{ring.primary!r}, {report.total} in all.")
        if report.failed:
            for secret_id, reason in sorted(report.failed.items()):
                self.stderr.write(f"  secret {secret_id}: {reason}")
            raise CommandError(f"{len(report.failed)} secret(s) could not be decrypted and were left as they are.")
