"""python manage.py audit_verify [--checkpoints [DIR]]: exit 0 when the chain is intact, 1 naming the first break."""
from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.verification import CHUNK_SIZE, chain_verify


class Command(BaseCommand):
    help = ("Recompute every audit event's hash and link from sequence 1, streaming (constant memory). Exit 0 when "
            "the chain is intact; exit 1 naming the first broken sequence and why (content altered, link broken, "
            "gap, or with --checkpoints: checkpoint mismatch, truncated, bad checkpoint).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--checkpoints", nargs="?", const="", default=None, metavar="DIR",
                            help="also prove no checkpointed event was removed or rewritten, using the signed "
                                 "checkpoints in DIR (AUDIT_CHECKPOINT_DIR when DIR is left out)")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="events fetched per query")
        parser.add_argument("--no-progress", action="store_true", help="no progress line, even on a terminal")

    def handle(self, *args, checkpoints: str | None, chunk_size: int, no_progress: bool, **options) -> None:
        directory = None if checkpoints is None else (checkpoints or settings.AUDIT_CHECKPOINT_DIR)
        show = not no_progress and self.stdout.isatty()
        started = time.perf_counter()
        last_shown = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last_shown[0] < 0.2 and done < total:
                return
            last_shown[0] = now
            rate = done / max(now - started, 1e-9)
            self.stdout.write(f"\r  verified {done}/{total} events ({rate:,.0f}/s)", ending="")
            self.stdout.flush()

        result = chain_verify(checkpoints_dir=directory, chunk_size=chunk_size, progress=progress if show else None)
        if show:
            self.stdout.write("")
        for note in result.notes:
            self.stderr.write(f"note: {note}")
        if result.ok:
            self.stdout.write(f"{result.summary()} ({result.seconds:.2f}s, {result.rate:,.0f} events/s)")
            return
        self.stderr.write(result.summary())
        sys.exit(1)
