"""Views that raise each kind of error, mounted only by the error-shape tests."""
from django.http import Http404
from django.urls import include, path
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Serializer
from core.errors import Conflict, TooManyRequests
from prostqs import urls as project_urls


class _Input(Serializer):
    amount = serializers.IntegerField(min_value=1)


class Validating(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        _Input(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


class NeedsAuth(APIView):
    authentication_classes = [BasicAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"ok": True})


class Forbids(APIView):
    # No authenticators: with them, DRF answers an anonymous caller's denial with 401 instead of 403.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        self.permission_denied(request, message="Not for you.")


class Conflicting(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise Conflict("Already decided.", code="already_decided")


class Limited(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise TooManyRequests("Slow down.", retry_after=42)


class Crashing(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("boom")


def plain_django_view(request):
    raise Http404("plain Django view")


urlpatterns = [
    path("api/test/plain", plain_django_view),
    path("api/test/validate", Validating.as_view()),
    path("api/test/auth", NeedsAuth.as_view()),
    path("api/test/forbidden", Forbids.as_view()),
    path("api/test/conflict", Conflicting.as_view()),
    path("api/test/limited", Limited.as_view()),
    path("api/test/crash", Crashing.as_view()),
    path("", include(project_urls)),
]
