"""Run the jobs queue in this process: the embedded default, without Redis or Celery (``make run`` starts it)."""
from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.context import scope
from infrastructure.services.jobs import registered_types
from infrastructure.worker import JobWorker, worker_name


class Command(BaseCommand):
    help = "Claim and run due jobs until stopped (SIGTERM or Ctrl-C finishes the running job first)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=None,
                            help="jobs claimed per round trip (default JOBS_BATCH_SIZE)")
        parser.add_argument("--poll", type=float, default=None,
                            help="seconds to wait when nothing is due (default JOBS_POLL_SECONDS)")
        parser.add_argument("--reap-every", type=float, default=None,
                            help="seconds between lease reaps (default JOBS_REAP_SECONDS)")
        parser.add_argument("--until-idle", action="store_true", help="exit once nothing is due")
        parser.add_argument("--max-seconds", type=float, default=None, help="exit after this many seconds")
        parser.add_argument("--name", default=None, help="worker name recorded in jobs.locked_by")

    def handle(self, *args, batch_size, poll, reap_every, until_idle, max_seconds, name, **options) -> None:
        worker = JobWorker(name=name or worker_name("run_jobs"), batch_size=batch_size, poll_seconds=poll,
                           reap_seconds=reap_every)

        def stop(signum, frame):
            if worker.stop_requested.is_set():
                raise KeyboardInterrupt  # a second signal: stop now, leases cover the rest
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(
            f"Jobs runner {worker.name}: {len(registered_types())} job types, batches of {worker.batch_size}, "
            f"polling every {worker.poll_seconds:g} s, lease {settings.JOBS_LEASE_SECONDS:g} s.")
        self.stdout.flush()
        until = time.monotonic() + max_seconds if max_seconds else None
        with scope(actor_type="system", actor_id=None, app_id=None):
            ran = worker.run(until=until, stop_when_idle=until_idle)
        self.stdout.write(f"Jobs runner {worker.name} stopped after {ran} job(s).")
