"""Views of the project itself: the answer for unknown API URLs and the interactive API docs page."""
from __future__ import annotations

from csp.constants import NONE, SELF
from csp.decorators import csp
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


@extend_schema(exclude=True)
class UnknownEndpointView(APIView):
    """Answers every URL under /api/ that no route matched, in the JSON error shape."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound(_("No endpoint at %(path)s.") % {"path": request.path})

    get = post = put = patch = delete = head = options = http_method_not_allowed


# Swagger UI, served from our own static files (drf-spectacular-sidecar): its scripts are files, its start-up script
# comes from the same URL (``?script``), it reads the schema from this origin and draws some icons as data: images.
# Swagger UI's stylesheet and the page's own <style> need inline styles; no inline script runs.
API_DOCS_CONTENT_SECURITY_POLICY = {
    "default-src": [NONE], "script-src": [SELF], "style-src": [SELF, "'unsafe-inline'"], "img-src": [SELF, "data:"],
    "connect-src": [SELF], "font-src": [SELF], "base-uri": [NONE], "form-action": [NONE], "frame-ancestors": [NONE],
}


@method_decorator(csp(API_DOCS_CONTENT_SECURITY_POLICY), name="dispatch")
class ApiDocsView(SpectacularSwaggerSplitView):
    """The API docs page without inline scripts (the split view serves its start-up script as a file), under a
    policy of its own instead of the API's ``default-src 'none'``."""
