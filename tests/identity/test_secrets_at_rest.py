"""Codes, session tokens and app secrets are nowhere in the database in clear."""
import re

import pytest
from django.db import connection

from audit.services import audit_sequence

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def text_values() -> list[str]:
    """Every text and JSON value of every table (dates and UUIDs excluded: their digits would be noise)."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                kind = connection.introspection.get_field_type(column.type_code, column)
                if kind in ("CharField", "TextField", "JSONField"):
                    cursor.execute(f'SELECT "{column.name}" FROM "{table}"')
                    values += [str(v) for (v,) in cursor.fetchall() if v is not None]
    return values


def test_no_code_token_or_secret_in_clear(api_client, run_jobs, otp_outbox, app_client):
    started = api_client.post("/api/v1/identity/otp/start", {"phone": "+5511987654321"}).json()
    run_jobs()
    code = otp_outbox.code_for(started["verification_id"])
    token = api_client.post("/api/v1/identity/otp/verify", {"verification_id": started["verification_id"],
                                                            "code": code}).json()["session_token"]
    owner = app_client(f"Bearer {token}")
    app = owner.post("/api/v1/apps", {"name": "Shop", "webhook_url": "https://shop.example.com/hooks"}).json()
    webhook_secret = app["webhook_secret"]
    secret = owner.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "p", "scopes": ["identity"]}
                        ).json()["secret"]
    audit_sequence()

    values = text_values()
    assert any(v == "+5511987654321" for v in values)  # the scan does see the tables
    code_pattern = re.compile(rf"(?<![0-9]){code}(?![0-9])")
    assert not [v for v in values if code_pattern.search(v)]
    assert webhook_secret.startswith("whsec_")  # kept sealed (AES-GCM) to sign webhooks: never in clear either
    for clear in (token, token.removeprefix("pq_st_"), secret, secret.removeprefix("pq_sk_"), webhook_secret,
                  webhook_secret.removeprefix("whsec_")):
        assert not [v for v in values if clear in v]


def test_stored_hashes_are_hmac_sha256_under_the_purposes_subkey(make_app, settings):
    """The stored form is fixed: a change in how it is computed would lock every credential and session out."""
    import hashlib
    import hmac

    from identity.crypto import keyed_hash

    settings.IDENTITY_HASH_KEY = "a-test-only-identity-hash-key"
    subkey = hmac.new(b"a-test-only-identity-hash-key", b"prostqs.identity.app-secret", hashlib.sha256).digest()
    assert keyed_hash("app-secret", "pq_sk_example") == hmac.new(subkey, b"pq_sk_example", hashlib.sha256).hexdigest()
    assert keyed_hash("session-token", "pq_sk_example") != keyed_hash("app-secret", "pq_sk_example")
    _app, cred, header = make_app()
    secret = __import__("base64").b64decode(header.split()[1]).decode().partition(":")[2]
    assert cred.secret_hash == keyed_hash("app-secret", secret)
