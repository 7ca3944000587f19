"""Every serializer of the project refuses, in a request body, a key that is none of its writable fields
(``core.api.Serializer`` and ``ModelSerializer``); query strings are left alone."""
import pytest
from django.conf import settings
from django.http import QueryDict
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import serializers

from core.api import ModelSerializer, RefusesUnknownFields, Serializer

pytestmark = pytest.mark.smoke

UNKNOWN = "prostqs_not_a_field"
# The project's own packages: every package at the top of the repository but the tests.
PROJECT = frozenset(path.parent.name for path in settings.BASE_DIR.glob("*/__init__.py")) - {"tests"}


def _views(resolver: URLResolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
            if view is not None:
                yield view


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _project_serializers() -> list[type]:
    """Every serializer class defined in the project's modules, once the URL configuration (and through it every
    API module) is loaded."""
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    found = {cls for cls in _subclasses(serializers.BaseSerializer) if cls.__module__.split(".")[0] in PROJECT}
    found -= {Serializer, ModelSerializer}  # the bases themselves (a ModelSerializer needs its Meta)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_the_project_has_serializers_to_check():
    names = {cls.__name__ for cls in _project_serializers()}
    assert {"AppUserIn", "AppUserOut", "OtpVerifyIn"} <= names, names


@pytest.mark.parametrize("serializer", _project_serializers(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_project_serializer_refuses_an_unknown_field(serializer):
    assert issubclass(serializer, RefusesUnknownFields)
    data = serializer(data={UNKNOWN: 1})
    assert not data.is_valid()
    assert data.errors[UNKNOWN] == ["Unknown field."]


def test_every_views_serializer_is_the_projects():
    """Views that declare their serializer (generic views) use one of the project's."""
    declared = {view.serializer_class for view in _views(get_resolver()) if getattr(view, "serializer_class", None)}
    assert declared
    for serializer in declared:
        assert issubclass(serializer, RefusesUnknownFields), serializer


class _Amount(Serializer):
    amount = serializers.IntegerField()
    total = serializers.IntegerField(read_only=True)
    label = serializers.CharField(source="name", required=False)


def test_unknown_and_read_only_keys_are_refused_by_name():
    data = _Amount(data={"amount": 1, "total": 5, "amont": 2})
    assert not data.is_valid()
    assert data.errors == {"amont": ["Unknown field."], "total": ["Unknown field."]}
    # A field's source names it too.
    assert _Amount(data={"amount": 1, "name": "x"}).is_valid()
    assert _Amount(data={"amount": 1, "label": "x"}).is_valid()


def test_a_query_string_is_left_alone():
    query = QueryDict("amount=1&page=2")
    assert _Amount(data=query).is_valid()


def test_a_model_serializer_refuses_unknown_fields_too():
    from identity.models import IdentityLink

    class Link(ModelSerializer):
        class Meta:
            model = IdentityLink
            fields = ["provider", "provider_id"]

    data = Link(data={"provider": "google", "provider_id": "1", "user": "someone"})
    assert not data.is_valid()
    assert data.errors == {"user": ["Unknown field."]}
