"""A view that records an audit event, to see what the request context gives it."""
from django.http import JsonResponse
from django.urls import path

from audit.services import audit_record


def record_view(request):
    staged = audit_record("AUDIT_VERIFIED", action="from-request")
    return JsonResponse({"event_id": str(staged.event_id)})


urlpatterns = [path("record/", record_view)]
