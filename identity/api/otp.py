"""POST /identity/otp/start and /identity/otp/verify: public, limited by phone, IP address and number prefix."""
from __future__ import annotations

import unicodedata

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Serializer
from identity.api.common import errors, request_ip
from identity.models import PendingVerification
from identity.services.otp import otp_start, otp_verify


class OtpStartIn(Serializer):
    phone = serializers.CharField(max_length=32, help_text="International format, e.g. +5511987654321.")
    channel = serializers.ChoiceField(choices=PendingVerification.Channel.choices,
                                      default=PendingVerification.Channel.SMS)


class OtpStartOut(Serializer):
    verification_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    channel = serializers.CharField()


class OtpStartView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["identity"], request=OtpStartIn, auth=[],
                   responses={201: OtpStartOut, **errors(400, 429)},
                   summary="Send a one-time code to a phone",
                   description="The answer is the same whether or not the phone belongs to a user.")
    def post(self, request):
        data = OtpStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        verification = otp_start(phone=data.validated_data["phone"], channel=data.validated_data["channel"],
                                 ip=request_ip(request))
        return Response(OtpStartOut({"verification_id": verification.pk, "expires_at": verification.expires_at,
                                     "channel": verification.channel}).data, status=status.HTTP_201_CREATED)


class OtpCodeField(serializers.CharField):
    """Six decimal digits, in any script a phone keyboard may type them (full-width, Arabic-Indic, …), given to the
    check as ASCII: the right code typed that way is the right code, and no other character reaches the check."""

    default_error_messages = {"invalid": _("Enter the 6 digits received.")}

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        digits = [unicodedata.decimal(char, None) for char in text]
        if len(digits) != 6 or None in digits:
            self.fail("invalid")
        return "".join(map(str, digits))


class OtpVerifyIn(Serializer):
    verification_id = serializers.UUIDField()
    # The lengths only describe the field in the schema: ``OtpCodeField`` refuses anything but 6 digits first.
    code = OtpCodeField(max_length=6, min_length=6, help_text="The 6 digits received.")
    device_fingerprint = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class OtpVerifyOut(Serializer):
    session_token = serializers.CharField(help_text="Send as Authorization: Bearer <token>. Shown once.")
    session_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    is_new_user = serializers.BooleanField(
        help_text="True when this sign-in created the person; false when they already existed (they signed in "
                  "before, or an application linked them by phone first).")


class OtpVerifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["identity"], request=OtpVerifyIn, auth=[],
                   responses={200: OtpVerifyOut, **errors(400, 404, 410, 429),
                              403: errors(403)[403]},
                   summary="Check a code and open a session",
                   description="A wrong code is 400 with attempts_left; after 5 the verification is burned (410).")
    def post(self, request):
        data = OtpVerifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        verified = otp_verify(verification_id=str(data.validated_data["verification_id"]),
                              code=data.validated_data["code"],
                              device_fingerprint=data.validated_data["device_fingerprint"],
                              ip=request_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""))
        session = verified.opened.session
        return Response(OtpVerifyOut({"session_token": verified.opened.token, "session_id": session.pk,
                                      "user_id": verified.user.pk, "expires_at": session.expires_at,
                                      "is_new_user": verified.is_new_user}).data)
