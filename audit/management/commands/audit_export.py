"""python manage.py audit_export [--output FILE]: the chain as JSON lines, oldest first."""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from audit.verification import iter_chain


class Command(BaseCommand):
    help = ("Write every chained audit event as one JSON object per line, in sequence order: the chained fields "
            "plus previous_hash and hash. tools/audit_verify_export.py checks such a file without Django.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")

    def handle(self, *args, output: str, **options) -> None:
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        count = 0
        try:
            for content, previous_hash, digest in iter_chain():
                line = {**content, "previous_hash": previous_hash, "hash": digest}
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
            else:
                out.flush()
        self.stderr.write(f"exported {count} audit events")
