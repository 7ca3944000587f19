"""python manage.py audit_sequencer: a long-running sequencer, for deployments that chain off the request path.

Polls rather than LISTENs: a NOTIFY from every writer would make PostgreSQL serialise their commits on the
notification queue lock, which is the very cost the staging design avoids. An idle poll is one short query.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from audit.services import BATCH_SIZE, audit_sequence

logger = logging.getLogger("prostqs.audit")


class Command(BaseCommand):
    help = ("Chain staged audit events continuously (several may run on several machines: one chains at a time). "
            "Use with AUDIT_SEQUENCE_ON_COMMIT=false to keep sequencing off the request path.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="seconds to sleep when nothing is staged")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--once", action="store_true", help="chain what is staged now, then exit")
        parser.add_argument("--max-seconds", type=float, default=None, help="exit after this long")

    def handle(self, *args, interval: float, batch_size: int, once: bool, max_seconds: float | None,
               **options) -> None:
        stop = []
        previous = {}
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.append(True))
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        total = 0
        try:
            while not stop:
                close_old_connections()  # honours CONN_MAX_AGE and health checks in a process that never ends
                try:
                    chained = audit_sequence(batch_size=batch_size)
                except Exception:  # a database restart must not end the sequencer; the next round retries
                    logger.exception("audit: sequencing failed; retrying")
                    chained = 0
                    time.sleep(min(5.0, interval * 10))
                total += chained
                if chained and options["verbosity"] >= 2:
                    self.stdout.write(f"chained {chained} events")
                if once or (deadline is not None and time.monotonic() >= deadline):
                    break
                if not chained:
                    time.sleep(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"audit sequencer stopped: {total} events chained")
