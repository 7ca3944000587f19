"""Views of the project itself: the health probe and the answer for unknown API URLs."""
from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
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
