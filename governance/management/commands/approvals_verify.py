"""Recompute every approval decision's hash and check each request's chain of decisions."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.services.approvals import approval_decisions_verify


class Command(BaseCommand):
    help = "Verify the hashes of approval_decisions (exit status 1 when a row was altered)."

    def handle(self, *args, **options) -> None:
        report = approval_decisions_verify()
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"decision {problem.decision_id} (request {problem.request_id}): {problem.detail}")
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
