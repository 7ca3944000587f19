"""Owners (signed-in users) manage their applications and credentials: /apps, /apps/{id}/credentials."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from core.api import ModelSerializer, Serializer
from identity.api.common import errors
from identity.api.me import USER_AUTHENTICATION, SignedInView
from identity.models import AppCredential, Application, Scope
from identity.permissions import IsSignedInUser
from identity.selectors import app_get_for_owner, apps_for_owner, credential_get_for_app, credentials_for_app
from identity.services.apps import app_create, credential_issue, credential_revoke
from identity.services.webhooks import app_webhook_secret_rotate, webhook_secret_generate


class AppOut(ModelSerializer):
    tenant_id = serializers.UUIDField(source="owner_id", read_only=True)

    class Meta:
        model = Application
        fields = ["id", "name", "slug", "status", "webhook_url", "tenant_id", "created_at"]


class CreatedAppOut(AppOut):
    webhook_secret = serializers.CharField(
        help_text="The secret that signs this app's webhooks (ProstQS-Signature). Shown once: store it now.")

    class Meta(AppOut.Meta):
        fields = [*AppOut.Meta.fields, "webhook_secret"]


class WebhookSecretOut(Serializer):
    webhook_secret = serializers.CharField(
        help_text="The new signing secret, shown once. The previous one keeps signing too for "
                  "APP_WEBHOOK_SECRET_GRACE_SECONDS (24 h by default).")


class AppIn(Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100, required=False, allow_blank=True)
    webhook_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")


class AppsView(generics.ListAPIView):
    authentication_classes = USER_AUTHENTICATION
    permission_classes = [IsSignedInUser]
    serializer_class = AppOut

    def get_queryset(self):
        return apps_for_owner(owner=self.request.user)

    @extend_schema(tags=["applications"], responses={200: AppOut(many=True), **errors(401, 403)},
                   summary="The signed-in owner's applications")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["applications"], request=AppIn,
                   responses={201: CreatedAppOut, **errors(400, 401, 403, 409)},
                   summary="Create an application (the signed-in user becomes its owner, the tenant); the answer "
                           "carries its webhook signing secret, shown once")
    def post(self, request):
        data = AppIn(data=request.data)
        data.is_valid(raise_exception=True)
        secret = webhook_secret_generate()
        app = app_create(owner=request.user, webhook_secret=secret, **data.validated_data)
        return Response(AppOut(app).data | {"webhook_secret": secret}, status=status.HTTP_201_CREATED)


class AppDetailView(SignedInView):
    @extend_schema(tags=["applications"], responses={200: AppOut, **errors(401, 403, 404)},
                   summary="One of the owner's applications")
    def get(self, request, app_id):
        return Response(AppOut(app_get_for_owner(owner=request.user, app_id=app_id)).data)


class WebhookSecretView(SignedInView):
    @extend_schema(tags=["applications"], request=None,
                   responses={201: WebhookSecretOut, **errors(401, 403, 404)},
                   summary="Rotate the application's webhook signing secret (the new one is shown only in this "
                           "answer)")
    def post(self, request, app_id):
        app = app_get_for_owner(owner=request.user, app_id=app_id)
        return Response({"webhook_secret": app_webhook_secret_rotate(app=app)}, status=status.HTTP_201_CREATED)


class CredentialOut(ModelSerializer):
    class Meta:
        model = AppCredential
        fields = ["id", "name", "public_key", "scopes", "status", "created_at", "revoked_at"]


class IssuedCredentialOut(CredentialOut):
    secret = serializers.CharField(help_text="Shown once: store it now. Only its hash is kept.")

    class Meta(CredentialOut.Meta):
        fields = [*CredentialOut.Meta.fields, "secret"]


class CredentialIn(Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1)


class CredentialsView(generics.ListAPIView):
    authentication_classes = USER_AUTHENTICATION
    permission_classes = [IsSignedInUser]
    serializer_class = CredentialOut

    def get_queryset(self):
        return credentials_for_app(app=app_get_for_owner(owner=self.request.user, app_id=self.kwargs["app_id"]))

    @extend_schema(tags=["applications"], responses={200: CredentialOut(many=True), **errors(401, 403, 404)},
                   summary="An application's credentials (never their secrets)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["applications"], request=CredentialIn,
                   responses={201: IssuedCredentialOut, **errors(400, 401, 403, 404, 409)},
                   summary="Issue a credential: public key and secret (the secret is shown only in this answer)")
    def post(self, request, app_id):
        app = app_get_for_owner(owner=request.user, app_id=app_id)
        data = CredentialIn(data=request.data)
        data.is_valid(raise_exception=True)
        issued = credential_issue(app=app, name=data.validated_data["name"], scopes=data.validated_data["scopes"],
                                  created_by=request.user)
        body = CredentialOut(issued.credential).data | {"secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class CredentialDetailView(SignedInView):
    @extend_schema(tags=["applications"], responses={204: None, **errors(401, 403, 404)},
                   summary="Revoke a credential (refused from the next request on)")
    def delete(self, request, app_id, credential_id):
        app = app_get_for_owner(owner=request.user, app_id=app_id)
        credential_revoke(credential=credential_get_for_app(app=app, credential_id=credential_id),
                          reason="revoked by owner")
        return Response(status=status.HTTP_204_NO_CONTENT)
