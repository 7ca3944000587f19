"""The API's own request handling: content negotiation and the console middleware kept off /api/."""
import pytest
from django.conf import settings

from identity.models import User

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def console_admin(client):
    user = User.objects.create_user("plumbing-admin", role=User.Role.SUPER_ADMIN)
    client.force_login(user)
    return user


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; charset=utf-8",
                                    "text/html, application/json;q=0.9"])
def test_json_is_answered_to_every_accept_that_allows_it(api_client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api_client.get("/api/v1/identity/me", **headers)
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_accept_the_api_cannot_render_is_406(api_client):
    response = api_client.get("/api/v1/ads/limits", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


def test_a_format_the_api_does_not_have_is_404(api_client):
    response = api_client.get("/api/v1/ads/limits?format=xml")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_console_session_neither_signs_api_calls_in_nor_is_touched_by_them(client, console_admin):
    response = client.get("/api/v1/identity/me")
    # A console session is not an API credential, and the API sets no cookie (session, CSRF, messages).
    assert response.status_code == 401
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert client.session.get("_auth_user_id") == str(console_admin.pk)


def test_the_console_keeps_its_session_and_csrf(client, console_admin):
    page = client.get("/admin/")
    assert page.status_code == 200 and page.wsgi_request.user == console_admin
    assert "Cookie" in page["Vary"] and page["Content-Language"] == settings.LANGUAGE_CODE
    client.logout()
    login = client.get("/admin/login/")
    assert settings.CSRF_COOKIE_NAME in login.cookies


@pytest.mark.parametrize("status", [200, 401, 404])
def test_the_apis_policy_built_once_is_what_django_csp_builds(rf, status):
    """An API answer gets the header built when the middleware starts, the same django-csp builds per response."""
    from csp.middleware import CSPMiddleware
    from django.http import JsonResponse

    from prostqs.middleware import ContentSecurityPolicyMiddleware

    middleware = ContentSecurityPolicyMiddleware(lambda request: JsonResponse({}, status=status))
    request = rf.get("/api/v1/identity/me")
    ours = middleware(request)
    theirs = CSPMiddleware.process_response(middleware, request, JsonResponse({}, status=status))
    assert ours["Content-Security-Policy"] == theirs["Content-Security-Policy"]
    assert "default-src 'none'" in ours["Content-Security-Policy"]
    # Outside /api/ django-csp builds the console's policy as before.
    console = middleware(rf.get("/admin/"))
    assert "default-src 'self'" in console["Content-Security-Policy"]
