"""The OpenAPI schema documents every identity endpoint: request and response bodies, errors, auth schemes."""
import pytest
import yaml

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

PUBLIC = {"/api/v1/identity/otp/start", "/api/v1/identity/otp/verify"}


@pytest.fixture(scope="module")
def spec(django_db_blocker):
    from tests.clients import Client

    with django_db_blocker.unblock():
        return yaml.safe_load(Client().get("/api/schema/").content)


def identity_operations(spec):
    prefixes = ("/api/v1/identity/", "/api/v1/apps", "/api/v1/app/", "/api/v1/audit/events")
    for path, operations in spec["paths"].items():
        if path.startswith(prefixes):
            for method, operation in operations.items():
                yield path, method, operation


def test_every_operation_documents_bodies_and_errors(spec):
    operations = list(identity_operations(spec))
    assert len(operations) >= 20
    for path, method, operation in operations:
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, f"{method} {path}"
        for code in success:
            assert code == "204" or "content" in responses[code], f"{method} {path} {code}"
        if method in ("post", "patch") and not path.endswith(("/logout", "/webhook-secret")):  # bodiless actions
            assert "requestBody" in operation, f"{method} {path}"
        expected_errors = {"400", "429"} if path in PUBLIC else {"401", "403"}
        for code in expected_errors:
            assert code in responses, f"{method} {path} lacks {code}"
            assert responses[code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_auth_schemes_are_described(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["appCredentials"]["scheme"] == "basic"
    assert schemes["sessionToken"]["scheme"] == "bearer"
    me = spec["paths"]["/api/v1/identity/me"]["get"]
    assert me["security"] == [{"sessionToken": []}]
    users = spec["paths"]["/api/v1/app/users"]["post"]
    assert users["security"] == [{"appCredentials": []}]
    start = spec["paths"]["/api/v1/identity/otp/start"]["post"]
    assert start.get("security") in (None, [], [{}])


def test_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
