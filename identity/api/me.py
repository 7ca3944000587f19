"""The signed-in user (Bearer session token): who am I, my profile, my sessions, sign out."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ModelSerializer, Serializer
from identity.api.common import errors
from identity.authentication import AppCredentialAuthentication, SessionTokenAuthentication
from identity.models import AuthMethod, IdentityLink, SovereignSession, UserProfile
from identity.permissions import IsSignedInUser
from identity.selectors import session_get_for_user, sessions_for_user
from identity.services.sessions import session_revoke
from identity.services.users import profile_update

# Session tokens first, so that a missing token is answered with the Bearer challenge; app credentials are still
# recognised, so that an app calling a user's endpoint gets a clear 403 rather than a 401.
USER_AUTHENTICATION = [SessionTokenAuthentication, AppCredentialAuthentication]


class SignedInView(APIView):
    authentication_classes = USER_AUTHENTICATION
    permission_classes = [IsSignedInUser]


class ProfileOut(ModelSerializer):
    class Meta:
        model = UserProfile
        fields = ["name", "email", "avatar_url", "updated_at"]


class AuthMethodOut(ModelSerializer):
    class Meta:
        model = AuthMethod
        fields = ["id", "type", "identifier", "verified", "verified_at"]


class IdentityLinkOut(ModelSerializer):
    class Meta:
        model = IdentityLink
        fields = ["id", "provider", "provider_id", "linked_at"]


class MeOut(Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
    phone = serializers.CharField(allow_null=True)
    profile = ProfileOut(allow_null=True)
    auth_methods = AuthMethodOut(many=True)
    identity_links = IdentityLinkOut(many=True)


class MeView(SignedInView):
    @extend_schema(tags=["identity"], responses={200: MeOut, **errors(401, 403)}, summary="The signed-in user")
    def get(self, request):
        user = request.user
        identity = getattr(user, "sovereign_identity", None)
        return Response(MeOut({
            "id": user.pk, "status": user.status, "role": user.role, "created_at": user.created_at,
            "phone": identity.primary_phone if identity else None,
            "profile": UserProfile.objects.filter(user=user).first(),
            "auth_methods": user.auth_methods.order_by("created_at"),
            "identity_links": user.identity_links.order_by("linked_at"),
        }).data)


class ProfileIn(Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class ProfileView(SignedInView):
    @extend_schema(tags=["identity"], request=ProfileIn, responses={200: ProfileOut, **errors(400, 401, 403)},
                   summary="Change the signed-in user's profile")
    def patch(self, request):
        data = ProfileIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        profile = profile_update(user=request.user, **data.validated_data)
        return Response(ProfileOut(profile).data)


class SessionOut(ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = SovereignSession
        fields = ["session_id", "device_fingerprint", "ip_address", "user_agent", "created_at", "expires_at",
                  "is_active", "revoked_at", "revoked_reason", "current"]

    def get_current(self, obj) -> bool:
        auth = self.context["request"].auth
        return bool(auth is not None and auth.pk == obj.pk)


class SessionsView(generics.ListAPIView):
    authentication_classes = USER_AUTHENTICATION
    permission_classes = [IsSignedInUser]
    serializer_class = SessionOut

    def get_queryset(self):
        return sessions_for_user(user=self.request.user)

    @extend_schema(tags=["identity"], responses={200: SessionOut(many=True), **errors(401, 403)},
                   summary="The signed-in user's sessions")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SessionDetailView(SignedInView):
    @extend_schema(tags=["identity"], responses={204: None, **errors(401, 403, 404)}, summary="End one session")
    def delete(self, request, session_id):
        session_revoke(session=session_get_for_user(user=request.user, session_id=session_id), reason="user_revoked")
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(SignedInView):
    @extend_schema(tags=["identity"], request=None, responses={204: None, **errors(401, 403)},
                   summary="End the current session")
    def post(self, request):
        session_revoke(session=request.auth, reason="logout")
        return Response(status=status.HTTP_204_NO_CONTENT)
