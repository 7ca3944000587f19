"""``python manage.py verify_all``: every integrity verifier of every app; exit 0 when all hold, 1 otherwise."""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from console import integrity
from core.integrity import registry


class Command(BaseCommand):
    help = ("Run every integrity verifier (audit chain with checkpoints, every ledger account, approval decision "
            "hashes, append-only triggers and grants, ad spend totals, lifecycle transition chains, and each table's "
            "rows against the audit events that recorded them) and store the report. Exit status 1 when any fails.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--only", action="append", metavar="NAME", help="run only this verifier (repeatable)")
        parser.add_argument("--no-store", action="store_true", help="do not store the report in the database")
        parser.add_argument("--alert", action="store_true",
                            help="on failure, activate the INTEGRITY_FAILURE_KILL_SWITCH as the daily run does")
        parser.add_argument("--list", action="store_true", help="list the registered verifiers and exit")

    def handle(self, *args, **options) -> None:
        if options["list"]:
            for name, func in registry.verifiers().items():
                self.stdout.write(f"{name}: {(func.__doc__ or '').strip().splitlines()[0] if func.__doc__ else ''}")
            return
        progress = None
        if sys.stderr.isatty() and not options["json"]:
            def progress(name: str, done: int) -> None:
                self.stderr.write(f"\r{name}: {done} checked", ending="")
        try:
            report = integrity.run_all(trigger="command", only=options["only"], store=not options["no_store"],
                                       alert=options["alert"], progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if progress is not None:
            self.stderr.write("")
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            for result in report.results:
                mark = self.style.SUCCESS("ok    ") if result.ok else self.style.ERROR("FAILED")
                self.stdout.write(f"{mark} {result.name:<30} {result.checked:>9} checked  {result.seconds:7.2f}s")
                for note in result.notes:
                    self.stdout.write(f"         {note}")
                for problem in result.problems:
                    self.stdout.write(self.style.ERROR(f"         {problem}"))
                if result.problem_count > len(result.problems):
                    self.stdout.write(f"         … {result.problem_count - len(result.problems)} more")
            self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError("integrity check failed", returncode=1)
