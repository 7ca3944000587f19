"""The Celery app with the test job types registered: ``celery -A tests.infrastructure.celery_worker worker``."""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
django.setup()

import tests.infrastructure.handlers  # noqa: E402, F401 - registers the test job types
from prostqs.celery import app  # noqa: E402

__all__ = ["app"]
