"""Another process watching a kill switch: prints the wall-clock time at which it sees each change.

``python -m tests.infrastructure.killswitch_watch <scope> <seconds>``; prints ``ready`` once set up, then
``halted <time>`` / ``running <time>`` on every change it observes.
"""
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
django.setup()

from infrastructure.services.killswitches import killswitch_is_halted  # noqa: E402

scope, seconds = sys.argv[1], float(sys.argv[2])
state = killswitch_is_halted(scope)
print("ready", "halted" if state else "running", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    now = killswitch_is_halted(scope)
    if now != state:
        state = now
        print("halted" if now else "running", repr(time.time()), flush=True)
    time.sleep(0.005)
