"""The WSGI module loads the URL configuration at import and freezes what it loaded out of the collector."""
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.smoke


def test_importing_the_wsgi_application_loads_the_views_and_freezes_them():
    script = (
        "import gc, json, sys; before = gc.get_freeze_count();"
        "from prostqs.wsgi import application;"
        "print(json.dumps({'before': before, 'frozen': gc.get_freeze_count(),"
        " 'views': 'identity.api.app' in sys.modules and 'billing.api' in sys.modules}))"
    )
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "prostqs.settings"}
    out = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["before"] == 0
    assert result["frozen"] > 10_000
    assert result["views"] is True
