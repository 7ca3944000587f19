"""Calls an application makes with its credentials (scope ``identity``): its users, their provider links and
sessions; and its own audit trail (scope ``audit``)."""
from __future__ import annotations

import datetime
from collections import OrderedDict

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEvent
from core.api import ModelSerializer, Serializer, rendered
from core.errors import InvalidInput
from identity.api.common import errors, request_ip
from identity.api.otp import OtpCodeField
from identity.models import AppSession, AppUser, IdentityLink, PendingVerification
from identity.permissions import scope_required
from identity.selectors import app_session_get
from identity.services.apps import app_session_open, app_session_revoke, app_user_link, external_user_id_validator
from identity.services.otp import app_user_proof_confirm, app_user_proof_start
from identity.services.users import identity_link_create


class IdentityScopeView(APIView):
    permission_classes = [scope_required("identity")]


# In UTC, as every API timestamp (TIME_ZONE is UTC and the API activates no other): named here, the field does not
# look the current time zone up (a context-local read) on every response.
_TIMESTAMP = serializers.DateTimeField(default_timezone=datetime.UTC)


def app_user_data(instance: AppUser) -> dict:
    """``AppUserOut(instance).data`` as a plain dict, without a serializer: the hottest app read answers with it
    (tests/identity/test_apps_api.py compares it with the declared fields' own output).

    A claim (not proven) shows neither the person's id nor their status: an app that typed a phone number learns
    nothing about who holds it (whether they exist, another tenant's customer, a tenant's owner)."""
    proven = instance.verified_at is not None
    return {"id": str(instance.id), "external_user_id": instance.external_user_id,
            "user_id": str(instance.user_id) if proven else None, "status": instance.status,
            "user_status": instance.user.status if proven else None, "verified": proven,
            "verified_at": _TIMESTAMP.to_representation(instance.verified_at) if proven else None,
            "created_at": _TIMESTAMP.to_representation(instance.created_at)}


class AppUserOut(Serializer):
    """An app's user. The fields are declared (for the schema and for ``fields``); ``to_representation`` is
    ``app_user_data``, because binding a deep copy of every field on every response costs more than the query
    behind it."""

    id = serializers.UUIDField()
    external_user_id = serializers.CharField()
    user_id = serializers.UUIDField(allow_null=True, help_text="The person's id, once they proved themselves to this "
                                                               "app; null for a claim.")
    status = serializers.ChoiceField(choices=AppUser.Status.choices)
    user_status = serializers.CharField(source="user.status", allow_null=True,
                                        help_text="The person's status, once proven; null for a claim.")
    verified = serializers.BooleanField(help_text="Whether the person proved, through this app, that they hold the "
                                                  "identity. Until then the link is a claim that grants nothing.")
    verified_at = serializers.DateTimeField(default_timezone=datetime.UTC, allow_null=True)
    created_at = serializers.DateTimeField(default_timezone=datetime.UTC)

    def to_representation(self, instance: AppUser) -> dict:
        return app_user_data(instance)


class AppUserIn(Serializer):
    external_user_id = serializers.CharField(max_length=255, validators=[external_user_id_validator])
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    user_id = serializers.UUIDField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if bool(attrs["phone"]) == bool(attrs["user_id"]):
            raise serializers.ValidationError({"phone": [_("Give either phone or user_id.")]})
        return attrs


class AppUsersView(IdentityScopeView):
    @extend_schema(tags=["app"], request=AppUserIn,
                   responses={201: AppUserOut, 200: AppUserOut, **errors(400, 401, 403, 404, 409)},
                   summary="Link a user (by phone, or by the id of a user in the tenant) under the app's own id")
    def post(self, request):
        data = AppUserIn(data=request.data)
        data.is_valid(raise_exception=True)
        app_user, created = app_user_link(app=request.user.app, **data.validated_data)
        return Response(AppUserOut(app_user).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AppUserDetailView(IdentityScopeView):
    app_user_kwarg = "external_user_id"  # read with the credential (identity.authentication)

    @extend_schema(tags=["app"], responses={200: AppUserOut, **errors(401, 403, 404)},
                   summary="One of the app's users, by the app's own id for them")
    def get(self, request, external_user_id):
        return rendered(self, app_user_data(request.user.app_user(external_user_id)))


class AppIdentityLinkOut(ModelSerializer):
    class Meta:
        model = IdentityLink
        fields = ["id", "user_id", "provider", "provider_id", "linked_at"]


class IdentityLinkIn(Serializer):
    provider = serializers.ChoiceField(choices=IdentityLink.Provider.choices)
    provider_id = serializers.CharField(max_length=255)


class AppUserLinksView(generics.ListAPIView):
    permission_classes = [scope_required("identity")]
    serializer_class = AppIdentityLinkOut
    app_user_kwarg = "external_user_id"  # read with the credential (identity.authentication)

    def get_queryset(self):
        """The user's links that this tenant's apps made: a link another tenant's app made is that tenant's data,
        even when the person is a user of both. Only for a person proven to this app."""
        app_user = self.request.user.proven_app_user(self.kwargs["external_user_id"])
        return IdentityLink.objects.filter(user_id=app_user.user_id, app__owner_id=self.request.user.tenant_id
                                           ).order_by("linked_at")

    @extend_schema(tags=["app"], responses={200: AppIdentityLinkOut(many=True), **errors(401, 403, 404)},
                   summary="Provider identities linked to one of the app's users")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["app"], request=IdentityLinkIn,
                   responses={201: AppIdentityLinkOut, 200: AppIdentityLinkOut, **errors(400, 401, 403, 404, 409)},
                   summary="Link a provider identity (google, apple, …) to one of the app's users")
    def post(self, request, external_user_id):
        app_user = request.user.proven_app_user(external_user_id)
        data = IdentityLinkIn(data=request.data)
        data.is_valid(raise_exception=True)
        link, created = identity_link_create(app=request.user.app, user=app_user.user, **data.validated_data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(AppIdentityLinkOut(link).data, status=code)


class ProofStartIn(Serializer):
    channel = serializers.ChoiceField(choices=PendingVerification.Channel.choices,
                                      default=PendingVerification.Channel.SMS)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None,
                                            help_text="The end user's address (counted against the per-address "
                                                      "limit); none is counted when omitted.")


class ProofStartOut(Serializer):
    verification_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    channel = serializers.CharField()


class AppUserVerificationsView(IdentityScopeView):
    @extend_schema(tags=["app"], request=ProofStartIn, responses={201: ProofStartOut, **errors(400, 401, 403, 404,
                                                                                                409, 429)},
                   summary="Ask one of the app's users to prove they hold the identity (a code to their phone)",
                   description="The code goes to the phone of the person's identity, with a message naming the app. "
                               "The person types it in the app, which confirms it. Until then the link is a claim: "
                               "no account, money, record or session of the person is reachable through the app.")
    def post(self, request, external_user_id):
        app_user = request.user.app_user(external_user_id)
        data = ProofStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        verification = app_user_proof_start(app_user=app_user, channel=data.validated_data["channel"],
                                            ip=data.validated_data["ip_address"])
        return Response(ProofStartOut({"verification_id": verification.pk, "expires_at": verification.expires_at,
                                       "channel": verification.channel}).data, status=status.HTTP_201_CREATED)


class ProofConfirmIn(Serializer):
    code = OtpCodeField(max_length=6, min_length=6, help_text="The 6 digits the person received and typed in the app.")


class AppUserVerificationConfirmView(IdentityScopeView):
    @extend_schema(tags=["app"], request=ProofConfirmIn, responses={200: AppUserOut, **errors(400, 401, 403, 404, 410,
                                                                                               429)},
                   summary="Confirm the code a user typed in the app: the link becomes proven",
                   description="A wrong code answers 400 with attempts_left and counts like a wrong sign-in code; "
                               "a used, burned or expired verification answers 410.")
    def post(self, request, external_user_id, verification_id):
        app_user = request.user.app_user(external_user_id)
        data = ProofConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        app_user = app_user_proof_confirm(app_user=app_user, verification_id=verification_id,
                                          code=data.validated_data["code"])
        return Response(AppUserOut(app_user).data)


class AppSessionOut(ModelSerializer):
    external_user_id = serializers.CharField(source="app_user.external_user_id", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = AppSession
        fields = ["id", "app_user_id", "external_user_id", "user_id", "ip_address", "status", "created_at",
                  "expires_at", "revoked_at"]

    def get_status(self, obj) -> str:
        return obj.effective_status()


class AppSessionIn(Serializer):
    external_user_id = serializers.CharField(max_length=255)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None,
                                            help_text="The end user's address; the caller's when omitted.")
    ttl_seconds = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=60,
                                           max_value=30 * 24 * 3600)


class AppSessionsView(IdentityScopeView):
    @extend_schema(tags=["app"], request=AppSessionIn, responses={201: AppSessionOut, **errors(400, 401, 403, 404,
                                                                                                409)},
                   summary="Open a session for one of the app's users (IP address recorded)")
    def post(self, request):
        data = AppSessionIn(data=request.data)
        data.is_valid(raise_exception=True)
        app_user = request.user.app_user(data.validated_data["external_user_id"])
        ip_address = data.validated_data["ip_address"] or request_ip(request)
        session = app_session_open(app_user=app_user, ip_address=ip_address,
                                   ttl_seconds=data.validated_data["ttl_seconds"])
        return Response(AppSessionOut(session).data, status=status.HTTP_201_CREATED)


class AppSessionDetailView(IdentityScopeView):
    @extend_schema(tags=["app"], responses={200: AppSessionOut, **errors(401, 403, 404)}, summary="One app session")
    def get(self, request, session_id):
        return Response(AppSessionOut(app_session_get(app=request.user.app, session_id=session_id)).data)

    @extend_schema(tags=["app"], responses={204: None, **errors(401, 403, 404)}, summary="Revoke an app session")
    def delete(self, request, session_id):
        app_session_revoke(session=app_session_get(app=request.user.app, session_id=session_id),
                           reason="revoked by app")
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventOut(ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "sequence", "type", "action", "actor_type", "actor_id", "target_type", "target_id", "before",
                  "after", "metadata", "reason", "created_at", "previous_hash", "hash"]


class AfterSequencePagination(BasePagination):
    """Keyset pages over the chain: ``?after_sequence=N&limit=M``; ``next`` carries the last sequence seen."""

    default_limit = 100
    max_limit = 500

    def paginate_queryset(self, queryset, request, view=None):
        problems = {}
        after = self._whole_number(request, "after_sequence", 0, 0, problems)
        limit = self._whole_number(request, "limit", self.default_limit, 1, problems)
        if problems:
            raise InvalidInput(fields=problems)
        limit = min(limit, self.max_limit)
        rows = list(queryset.filter(sequence__gt=after).order_by("sequence")[: limit + 1])
        self.has_more = len(rows) > limit
        rows = rows[:limit]
        self.next_after = rows[-1].sequence if rows else after
        self.request, self.limit = request, limit
        return rows

    @staticmethod
    def _whole_number(request, name: str, default: int, minimum: int, problems: dict) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            problems[name] = [_("Give a whole number of at least %(minimum)d.") % {"minimum": minimum}]
        return value

    def get_paginated_response(self, data):
        next_url = None
        if self.has_more:
            next_url = self.request.build_absolute_uri(self.request.path) + \
                f"?after_sequence={self.next_after}&limit={self.limit}"
        return Response(OrderedDict([("next", next_url), ("next_after_sequence", self.next_after),
                                     ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "required": ["results"], "properties": {
            "next": {"type": "string", "format": "uri", "nullable": True},
            "next_after_sequence": {"type": "integer"},
            "results": schema,
        }}

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "after_sequence", "in": "query", "required": False, "schema": {"type": "integer"},
             "description": "Only events after this sequence number."},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
             "description": f"Page size (at most {self.max_limit})."},
        ]


class AuditEventsView(generics.ListAPIView):
    permission_classes = [scope_required("audit")]
    serializer_class = AuditEventOut
    pagination_class = AfterSequencePagination

    def get_queryset(self):
        return AuditEvent.objects.filter(app_id=self.request.user.app_id)

    @extend_schema(tags=["app"], responses={200: AuditEventOut(many=True), **errors(400, 401, 403)},
                   parameters=[OpenApiParameter("after_sequence", int, required=False)],
                   summary="The app's own audit events, in chain order")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
