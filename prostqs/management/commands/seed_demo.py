"""Idempotent demo data: running it twice changes nothing.

Each app that has demo data provides ``<app>.demo.seed(stdout)``; they run lowest layer first, so
an app's demo can build on the ones below it.
"""
from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_APPS = ["audit", "infrastructure", "identity", "governance", "memory", "billing", "ads", "agents"]


class Command(BaseCommand):
    help = "Load idempotent demo data (safe to run again)."

    def handle(self, *args, **options) -> None:
        for app in DEMO_APPS:
            if find_spec(f"{app}.demo") is None:
                continue
            with transaction.atomic():
                import_module(f"{app}.demo").seed(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
