"""Verify the hash chains of lifecycle_transitions (exit status 1 naming the first bad row)."""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from memory.services import verify_lifecycle_chains


class Command(BaseCommand):
    help = ("Recompute every lifecycle transition's hash, check each decision's chain and that each lifecycle's state "
            "is where its chain ends. Exit 0: intact; exit 1: the first problem is named.")

    def handle(self, *args, **options) -> None:
        interactive = sys.stderr.isatty()

        def progress(checked: int) -> None:
            if interactive:
                self.stderr.write(f"\r{checked} transitions checked", ending="")

        report = verify_lifecycle_chains(progress=progress)
        if interactive:
            self.stderr.write("")
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
