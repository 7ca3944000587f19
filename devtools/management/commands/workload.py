"""``python manage.py workload --seed N --steps M``: seeded randomized API traffic, then every invariant."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from devtools.workload import run_workload


class Command(BaseCommand):
    help = ("Send M seeded random API requests (valid and invalid: identity, billing, ads, agents, approvals, "
            "another tenant's ids) through the whole stack, then check: no 5xx, every error in the JSON shape, "
            "verify_all. The same seed replays the same run; a failure prints its seed.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--steps", type=int, default=200)
        parser.add_argument("--trace", action="store_true", help="print every step (symbolic request, outcome)")
        parser.add_argument("--json", metavar="FILE", help="write the figures and the trace as JSON")

    def handle(self, *args, **options) -> None:
        result = run_workload(seed=options["seed"], steps=options["steps"])
        if options["trace"]:
            for line in result.trace():
                self.stdout.write(line)
        if options["json"]:
            with open(options["json"], "w") as fh:
                json.dump({**result.figures(), "trace": result.trace()}, fh, indent=1)
        self.stdout.write(f"workload: {json.dumps(result.figures())}")
        for problem in result.shape_errors[:20]:
            self.stdout.write(self.style.ERROR(problem))
        if result.integrity is not None:
            for verifier in result.integrity.results:
                if not verifier.ok:
                    self.stdout.write(self.style.ERROR(f"{verifier.name}: {verifier.problems[:3]}"))
        if not result.ok:
            raise CommandError(f"workload failed with seed {options['seed']}: replay with "
                               f"`python manage.py workload --seed {options['seed']} --steps {options['steps']} "
                               f"--trace`", returncode=1)
