"""An app-authenticated read costs a fixed number of queries (the bench relies on it)."""
import pytest

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def linked_client(make_app, app_client, prove):
    """An app's client, with the app user ``c-1`` linked and proven."""
    _app, _cred, header = make_app()
    client = app_client(header)
    assert client.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+5511912345678"}
                       ).status_code == 201
    prove(client, "c-1")
    return client


def test_app_user_read_takes_one_query(linked_client, django_assert_num_queries):
    client = linked_client
    # The credential with its app, and the app user with their user, in one statement.
    with django_assert_num_queries(1):
        response = client.get("/api/v1/app/users/c-1")
    assert response.status_code == 200
    with django_assert_num_queries(1):
        assert client.get("/api/v1/app/users/nobody").status_code == 404


def test_other_app_calls_take_the_credential_query_then_their_own(linked_client, django_assert_num_queries):
    client = linked_client
    # 1: the credential with its app; 2: the app user with their user (named in the body, not the URL).
    with django_assert_num_queries(2):
        assert client.post("/api/v1/app/sessions", {"external_user_id": "nobody"}).status_code == 404


@pytest.mark.postgres
def test_the_credential_and_app_user_reads_are_prepared_once_per_connection(linked_client):
    from django.db import connection

    from identity.selectors import _APP_USER_WITH_USER, _CREDENTIAL_WITH_APP, _CREDENTIAL_WITH_APP_USER

    client = linked_client
    # psycopg prepares a statement once the connection ran it prepare_threshold times (settings.py).
    for _ in range(connection.settings_dict["OPTIONS"]["prepare_threshold"] + 1):
        assert client.get("/api/v1/app/users/c-1").status_code == 200
        assert client.post("/api/v1/app/sessions", {"external_user_id": "c-1"}).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]

    def placeholders(sql: str) -> str:  # psycopg sends %s as $1, $2…
        parts = sql.split("%s")
        return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))

    for rows in (_CREDENTIAL_WITH_APP_USER, _CREDENTIAL_WITH_APP, _APP_USER_WITH_USER):
        assert prepared.count(placeholders(rows._plan("default")[0])) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_prepared_statements_nothing_is_prepared(make_app, app_client):
    """Without ``prepare_threshold`` (``DB_PREPARED_STATEMENTS=false``) a connection prepares nothing, however often
    it runs a statement."""
    from django.db import connection

    _app, _cred, header = make_app()
    options = connection.settings_dict["OPTIONS"]
    threshold = options.pop("prepare_threshold")
    connection.close()  # the next query connects with these settings
    try:
        for _ in range(threshold + 2):
            assert app_client(header).get("/api/v1/app/users/nobody").status_code == 404
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone()[0] == 0
    finally:
        options["prepare_threshold"] = threshold
        connection.close()


def test_the_prepared_reads_show_in_djangos_query_log(make_app, app_client, django_assert_num_queries):
    _app, cred, header = make_app()
    with django_assert_num_queries(2) as captured:
        assert app_client(header).post("/api/v1/app/sessions", {"external_user_id": "nobody"}).status_code == 404
    sql = [query["sql"] for query in captured.captured_queries]
    assert all(sql) and cred.public_key in sql[0] and "nobody" in sql[1]
    with django_assert_num_queries(1) as captured:
        assert app_client(header).get("/api/v1/app/users/nobody").status_code == 404
    assert cred.public_key in captured.captured_queries[0]["sql"] and "nobody" in captured.captured_queries[0]["sql"]
