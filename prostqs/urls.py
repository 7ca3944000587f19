"""The only module that knows every app: it mounts each app's API and the console."""
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from agents import urls as agents_urls
from identity import urls as identity_urls
from prostqs.health import healthz
from prostqs.views import ApiDocsView, UnknownEndpointView

# Identity's and agents' routes have no prefix of their own: their patterns join this list directly, so resolving
# them takes one level of includes fewer (URL resolution is a visible part of every API call's cost).
api_v1 = [
    *identity_urls.urlpatterns,
    path("governance/", include("governance.urls")),
    path("governance/", include("memory.urls")),
    path("billing/", include("billing.urls")),
    path("ads/", include("ads.urls")),
    *agents_urls.urlpatterns,
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("healthz", healthz, name="healthz"),
    # Institutional memory's console pages were under /admin/governance/ until memory became an app of its own:
    # links kept from then land on the same page under /admin/memory/.
    re_path(r"^admin/governance/(?P<model>decisionlifecycle|lifecycletransition|decisionconflict|decisionprecedent"
            r"|decisionreview)/(?P<rest>.*)$", RedirectView.as_view(url="/admin/memory/%(model)s/%(rest)s",
                                                                    query_string=True)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api/ answers 404 in the JSON error shape, whatever DEBUG says.
    re_path(r"^api/", UnknownEndpointView.as_view()),
]
