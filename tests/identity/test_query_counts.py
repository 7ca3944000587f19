"""An app-authenticated read costs a fixed number of queries (the bench relies on it)."""
import pytest

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_app_user_read_takes_two_queries(make_app, app_client, django_assert_num_queries):
    _app, _cred, header = make_app()
    client = app_client(header)
    assert client.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+5511912345678"}
                       ).status_code == 201
    # 1: the credential with its app; 2: the app user with its user.
    with django_assert_num_queries(2):
        response = client.get("/api/v1/app/users/c-1")
    assert response.status_code == 200
