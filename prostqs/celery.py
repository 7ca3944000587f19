"""The Celery application. With REDIS_URL it uses Redis as broker; without, tasks run eagerly."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")

app = Celery("prostqs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
