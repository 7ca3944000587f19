"""The WSGI application (gunicorn, ``runserver``).

Each web process loads the URL configuration, and with it every view, here rather than on its first request, then
moves everything loaded so far into the garbage collector's permanent generation (``gc.freeze``): the modules,
classes and settings a process keeps for its whole life are then no longer walked by every full collection, which
on the app-authenticated reads cost 3 % of the instructions per request (counted with callgrind over 1,000
requests). Garbage made while loading is collected first, so nothing is kept that would have been freed.
"""
import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")

application = get_wsgi_application()
import_module(settings.ROOT_URLCONF)  # its include()s import every URL module, and those the views
gc.collect()
gc.freeze()
