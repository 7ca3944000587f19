"""The approval inbox over the API, for signed-in users (Bearer session token) who hold a decision authority.
Institutional memory's reads (``memory.api``) share this module's view base and error shapes."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import client_ip
from core.api import ModelSerializer, Serializer
from core.errors import InvalidInput, NotFound
from governance.models import ApprovalDecision, ApprovalRequest, PartyRelation
from governance.selectors import approval_request_get_for, approvals_visible_to
from governance.services.approvals import approval_decide
from identity.authentication import AppCredentialAuthentication, SessionTokenAuthentication
from identity.permissions import IsSignedInUser

# Session tokens first, so that a missing token is answered with the Bearer challenge; app credentials are still
# recognised, so that an application calling these endpoints gets a clear 403 rather than a 401.
USER_AUTHENTICATION = [SessionTokenAuthentication, AppCredentialAuthentication]

_ErrorBody = inline_serializer("GovernanceErrorBody", fields={
    "error": inline_serializer("GovernanceErrorDetail", fields={
        "code": serializers.CharField(help_text="Machine-readable code, e.g. authority_scope."),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    }),
})
_ERRORS = {
    400: "Invalid input: validation_error, cannot_escalate.",
    401: "No valid session token.",
    403: "signed_in_user_required, no_authority, authority_expired, authority_scope, authority_impact, "
         "self_approval_forbidden (the request acts on your behalf: you requested it, own the agent or the "
         "application that made it, or hold the account it moves money from).",
    404: "approval_not_found / lifecycle_not_found: nothing of that id within the reach of your authorities.",
    409: "approval_already_decided (the request is approved or rejected), already_decided_by_you.",
    410: "approval_expired: the request expired undecided; expiry is final.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {c: OpenApiResponse(_ErrorBody, description=_ERRORS[c]) for c in codes}


class ApprovalDecisionOut(ModelSerializer):
    authority_id = serializers.UUIDField()
    decided_by = serializers.UUIDField(source="decided_by_id")

    class Meta:
        model = ApprovalDecision
        fields = ["id", "sequence", "decision", "justification", "authority_id", "decided_by", "decided_at",
                  "previous_hash", "hash"]


class ApprovalPartyOut(Serializer):
    user_id = serializers.UUIDField()
    relation = serializers.ChoiceField(choices=PartyRelation.choices)


class ApprovalRequestOut(ModelSerializer):
    approvals = serializers.IntegerField(help_text="Approvals recorded so far.")
    policy_evaluation_id = serializers.UUIDField(allow_null=True)
    on_behalf_of = ApprovalPartyOut(source="parties", many=True, read_only=True,
                                    help_text="The request's parties: the people on whose behalf it acts (the "
                                              "requester, the agent's owners, the account holder…). None of them "
                                              "may decide it.")

    class Meta:
        model = ApprovalRequest
        fields = ["id", "domain", "action", "impact", "required_impact", "required_approvals", "approvals",
                  "amount", "risk_score", "context", "requested_by", "requested_by_type", "reference",
                  "target_type", "target_id", "policy_evaluation_id", "on_behalf_of", "status", "expires_at",
                  "created_at", "decided_at"]


class ApprovalRequestDetailOut(ApprovalRequestOut):
    decisions = ApprovalDecisionOut(many=True)

    class Meta(ApprovalRequestOut.Meta):
        fields = [*ApprovalRequestOut.Meta.fields, "decisions"]


def _with_counts(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return (queryset.annotate(approvals=Count("decisions", filter=Q(decisions__decision="approved")))
            .prefetch_related("parties"))


class SignedInView(APIView):
    authentication_classes = USER_AUTHENTICATION
    permission_classes = [IsSignedInUser]


class ApprovalListView(SignedInView, ListAPIView):
    serializer_class = ApprovalRequestOut

    @extend_schema(
        tags=["governance"],
        summary="Approval requests you can decide (pending) or have seen decided",
        description="`status=pending` (the default) lists the pending, unexpired requests the signed-in user may "
                    "decide now: the domain is within one of their decision authorities' scopes, the required "
                    "impact within its reach, they are none of its parties (`on_behalf_of`: requester, agent "
                    "owner, account holder…) and have not decided it yet. Other statuses list requests of that "
                    "status within the reach of their authorities.",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ApprovalRequest.Status.values,
                                     default=ApprovalRequest.Status.PENDING)],
        responses={200: ApprovalRequestOut(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        wanted = self.request.query_params.get("status", ApprovalRequest.Status.PENDING)
        if wanted not in ApprovalRequest.Status.values:
            raise InvalidInput(fields={"status": [_("One of %(values)s.")
                                                  % {"values": ", ".join(ApprovalRequest.Status.values)}]})
        return _with_counts(approvals_visible_to(user=self.request.user, status=wanted))


class ApprovalDetailView(SignedInView):
    @extend_schema(tags=["governance"], summary="One approval request with its decisions",
                   responses={200: ApprovalRequestDetailOut, **error_responses(401, 403, 404)})
    def get(self, request, request_id):
        found = approval_request_get_for(user=request.user, request_id=request_id)
        if found is None:
            raise NotFound(_("No such approval request."), code="approval_not_found")
        found.approvals = found.decisions.filter(decision=ApprovalDecision.Decision.APPROVED).count()
        return Response(ApprovalRequestDetailOut(found).data)


class DecisionIn(Serializer):
    decision = serializers.ChoiceField(choices=ApprovalDecision.Decision.choices)
    justification = serializers.CharField(max_length=4000, allow_blank=True, trim_whitespace=False,
                                          help_text="Why: at least 10 characters.")


DecisionOut = inline_serializer("ApprovalDecisionResult", fields={
    "decision": ApprovalDecisionOut(),
    "request": ApprovalRequestOut(),
    "approvals": serializers.IntegerField(),
    "required_approvals": serializers.IntegerField(),
    "final": serializers.BooleanField(help_text="True when this decision approved or rejected the request."),
})


class ApprovalDecisionView(SignedInView):
    @extend_schema(
        tags=["governance"],
        summary="Approve, reject or escalate an approval request",
        description="Needs a decision authority in force whose scopes cover the request's domain and whose "
                    "max_impact reaches its required impact, and must not be one of the request's parties "
                    "(`on_behalf_of`: 403 `self_approval_forbidden`, for escalating too; nothing is written). "
                    "One rejection rejects; approval needs the request's quorum of distinct authorities; "
                    "escalation moves the request to authorities of higher impact.",
        request=DecisionIn,
        responses={201: DecisionOut, **error_responses(400, 401, 403, 404, 409, 410)},
    )
    def post(self, request, request_id):
        data = DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = approval_decide(
            request_id=request_id, user=request.user, decision=data.validated_data["decision"],
            justification=data.validated_data["justification"], ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        outcome.request.approvals = outcome.approvals
        return Response({
            "decision": ApprovalDecisionOut(outcome.decision).data,
            "request": ApprovalRequestOut(outcome.request).data,
            "approvals": outcome.approvals,
            "required_approvals": outcome.required_approvals,
            "final": outcome.final,
        }, status=status.HTTP_201_CREATED)
