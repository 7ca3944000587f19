"""The only module that knows every app: it mounts each app's API and the console."""
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from prostqs.health import healthz
from prostqs.views import UnknownEndpointView

api_v1 = [
    path("", include("identity.urls")),
    path("governance/", include("governance.urls")),
    path("billing/", include("billing.urls")),
    path("ads/", include("ads.urls")),
    path("", include("agents.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    # Anything else under /api/ answers 404 in the JSON error shape, whatever DEBUG says.
    re_path(r"^api/", UnknownEndpointView.as_view()),
]
