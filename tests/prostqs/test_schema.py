import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_schema_is_valid_openapi_3(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    spec = yaml.safe_load(response.content)
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_docs_page_serves_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()
