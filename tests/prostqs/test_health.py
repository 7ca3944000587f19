import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_health_ok_without_redis(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "disabled"}


@pytest.mark.redis
def test_health_ok_with_redis(client, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_names_redis_when_it_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"] == "error"
    assert response.json()["failing"] == ["redis"]


def test_health_names_the_database_when_it_is_down(tmp_path):
    # A real process whose database does not answer (nothing listens on port 1).
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client(HTTP_HOST='127.0.0.1').get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "REDIS_URL": "",
           "DJANGO_SETTINGS_MODULE": "prostqs.settings"}
    out = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    result = __import__("json").loads(out.strip().splitlines()[-1])
    assert result["status"] == 503
    assert result["body"]["database"] == "error"
    assert result["body"]["failing"] == ["database"]
