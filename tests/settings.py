"""The test suite's settings (pyproject.toml names them): the project's, on the suite's database backends
(``tests.backends``), whose flush also empties the append-only tables. Processes the tests start inherit them."""
from prostqs.settings import *  # noqa: F403
from prostqs.settings import DATABASES as PROJECT_DATABASES

TEST_BACKENDS = {
    "core.backends.postgresql": "tests.backends.postgresql",
    "django.db.backends.sqlite3": "tests.backends.sqlite3",
}

DATABASES = {**PROJECT_DATABASES, "default": {**PROJECT_DATABASES["default"],
                                              "ENGINE": TEST_BACKENDS[PROJECT_DATABASES["default"]["ENGINE"]]}}
