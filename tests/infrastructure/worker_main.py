"""A jobs worker process for tests: ``python -m tests.infrastructure.worker_main [run_jobs options]``."""
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

import tests.infrastructure.handlers  # noqa: E402, F401 - registers the test job types

call_command("run_jobs", *sys.argv[1:])
