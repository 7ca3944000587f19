"""Every API error, whatever its status, comes back in the one JSON shape."""
import pytest
from django.test import override_settings

pytestmark = [pytest.mark.smoke, pytest.mark.django_db, pytest.mark.urls("tests.prostqs.error_views")]


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def test_400_names_the_invalid_field(api_client):
    error = assert_error_shape(api_client.post("/api/test/validate", {"amount": -3}), 400, "validation_error")
    assert list(error["fields"]) == ["amount"]


def test_400_malformed_json(api_client):
    response = api_client.post("/api/test/validate", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


def test_401_carries_the_challenge(api_client):
    response = api_client.get("/api/test/auth")
    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_403(api_client):
    error = assert_error_shape(api_client.get("/api/test/forbidden"), 403, "permission_denied")
    assert error["message"] == "Not for you."


def test_404_unknown_api_url(api_client):
    assert_error_shape(api_client.get("/api/v1/does-not-exist"), 404, "not_found")


@override_settings(DEBUG=True)
def test_404_unknown_api_url_is_json_even_in_debug(api_client):
    assert_error_shape(api_client.post("/api/v1/nothing/here", {}), 404, "not_found")


def test_405(api_client):
    response = api_client.get("/api/test/validate")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_409_keeps_the_service_code(api_client):
    assert_error_shape(api_client.post("/api/test/conflict", {}), 409, "already_decided")


def test_413_oversized_body(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api_client.post("/api/test/validate", {"amount": 1, "pad": "x" * 4096})
    assert_error_shape(response, 413, "payload_too_large")


def test_415_wrong_content_type(api_client):
    response = api_client.post("/api/test/validate", "amount=1", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "unsupported_media_type")


def test_429_says_when_to_retry(api_client):
    response = api_client.post("/api/test/limited", {})
    error = assert_error_shape(response, 429, "throttled")
    assert response["Retry-After"] == "42"
    assert error["retry_after"] == 42


def test_500_hides_the_exception(api_client, caplog):
    response = api_client.get("/api/test/crash")
    error = assert_error_shape(response, 500, "server_error")
    assert "boom" not in error["message"]
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_errors_outside_drf_views_are_json_too(client):
    response = client.get("/api/test/plain")
    assert_error_shape(response, 404, "not_found")


def test_errors_outside_the_api_stay_html(client):
    assert "text/html" in client.get("/admin/nowhere/").get("Content-Type", "text/html")
