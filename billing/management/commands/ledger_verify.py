"""``python manage.py ledger_verify``: exit 0 when every account satisfies the ledger invariant, 1 otherwise."""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from billing.verification import ledger_check


class Command(BaseCommand):
    help = ("Check every billing account: balance == credits - debits, an unbroken running sum of balance_after, "
            "the last balance_after == balance. Exit status 1 names the first bad account.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="report every bad account, not only the first")
        parser.add_argument("--progress-every", type=int, default=1000, metavar="N",
                            help="print progress every N accounts (default 1000; 0 for none)")

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        every = options["progress_every"]

        def progress(accounts: int, entries: int) -> None:
            self.stderr.write(f"ledger_verify: {accounts} accounts, {entries} entries checked "
                              f"({time.monotonic() - started:.1f}s)")

        report = ledger_check(stop_at_first=not options["all"], progress=progress if every > 0 else None,
                              progress_every=max(every, 1))
        elapsed = time.monotonic() - started
        if report.ok:
            self.stdout.write(self.style.SUCCESS(
                f"ledger_verify: OK - {report.accounts} accounts, {report.entries} entries ({elapsed:.1f}s)"))
            return
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(f"ledger_verify: FAILED {problem}"))
        first = report.problems[0]
        raise CommandError(f"ledger invariant broken; first bad account: {first.account_id}", returncode=1)
