"""Institutional memory over the API (read-only), for signed-in users (Bearer session token) who hold a decision
authority: the precedents and conflicts beside an approval request, the reviews a person can decide and a
decision's memory. Mounted beside governance's routes, at /api/v1/governance/ (``memory.urls``)."""
from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from core.api import ModelSerializer
from core.errors import NotFound
from governance.api import SignedInView, error_responses
from governance.selectors import approval_request_get_for
from memory.models import DecisionConflict, DecisionLifecycle, DecisionReview, LifecycleTransition
from memory.selectors import approval_memory, lifecycle_for, review_decide_problem, reviews_due_for


class LifecycleOut(ModelSerializer):
    superseded_by = serializers.UUIDField(source="superseded_by_id", allow_null=True)

    class Meta:
        model = DecisionLifecycle
        fields = ["decision_id", "decision_type", "state", "expiration_type", "expires_at", "next_review_at",
                  "domain", "action", "target_type", "target_id", "reference", "direction", "amount", "scopes",
                  "superseded_by", "created_at", "updated_at"]


class TransitionOut(ModelSerializer):
    class Meta:
        model = LifecycleTransition
        fields = ["id", "sequence", "from_state", "to_state", "triggered_by", "triggered_by_type", "reason",
                  "created_at", "previous_hash", "hash"]


class ConflictOut(ModelSerializer):
    decision_a_id = serializers.UUIDField()
    decision_b_id = serializers.UUIDField()
    prevailing_id = serializers.UUIDField(allow_null=True)
    resolved_by = serializers.UUIDField(source="resolved_by_id", allow_null=True)

    class Meta:
        model = DecisionConflict
        fields = ["id", "conflict_type", "state", "description", "decision_a_id", "decision_b_id", "target_type",
                  "target_id", "prevailing_id", "resolved_by", "resolution_note", "detected_at", "closed_at"]


class ReviewOut(ModelSerializer):
    decision_id = serializers.UUIDField()
    decided_by = serializers.UUIDField(source="decided_by_id", allow_null=True)
    policy_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = DecisionReview
        fields = ["id", "decision_id", "review_type", "review_reason", "outcome", "justification", "decided_by",
                  "decided_at", "next_review_at", "triggered_by_type", "policy_id", "policy_version", "opened_at"]


PrecedentOut = inline_serializer("SimilarPrecedent", fields={
    "precedent_id": serializers.UUIDField(), "decision_id": serializers.UUIDField(),
    "domain": serializers.CharField(), "action": serializers.CharField(), "state": serializers.CharField(),
    "amount": serializers.IntegerField(), "result": serializers.JSONField(), "score": serializers.FloatField(),
    "amount_similarity": serializers.FloatField(allow_null=True), "context_similarity": serializers.FloatField(),
    "created_at": serializers.DateTimeField(),
}, many=True)
ApprovalMemoryOut = inline_serializer("ApprovalMemory", fields={
    "precedents": PrecedentOut, "conflicts": ConflictOut(many=True)})
DecisionMemoryOut = inline_serializer("DecisionMemory", fields={
    "lifecycle": LifecycleOut(), "transitions": TransitionOut(many=True), "conflicts": ConflictOut(many=True),
    "reviews": ReviewOut(many=True)})


class ApprovalMemoryView(SignedInView):
    @extend_schema(tags=["governance"], summary="Precedents and unresolved conflicts beside an approval request",
                   description="The most similar precedents (same domain and action, nearest amount and context; "
                               "memory, not authority) and the unresolved conflicts on the request's target.",
                   responses={200: ApprovalMemoryOut, **error_responses(401, 403, 404)})
    def get(self, request, request_id):
        found = approval_request_get_for(user=request.user, request_id=request_id)
        if found is None:
            raise NotFound(_("No such approval request."), code="approval_not_found")
        memory = approval_memory(request=found)
        return Response({"precedents": [p.as_dict() for p in memory["precedents"]],
                         "conflicts": ConflictOut(memory["conflicts"], many=True).data})


class ReviewListView(SignedInView, ListAPIView):
    serializer_class = ReviewOut

    @extend_schema(tags=["governance"], summary="Open reviews you can decide",
                   description="Open reviews of decisions in force that the signed-in user's decision authorities "
                               "allow them to decide (decided in the console's review inbox).",
                   responses={200: ReviewOut(many=True), **error_responses(401, 403)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[DecisionReview]:
        return reviews_due_for(user=self.request.user)


class DecisionMemoryView(SignedInView):
    @extend_schema(tags=["governance"], summary="A decision's lifecycle, transitions, conflicts and reviews",
                   description="Visible to people whose authority could decide the decision's reviews; 404 otherwise.",
                   responses={200: DecisionMemoryOut, **error_responses(401, 403, 404)})
    def get(self, request, decision_id):
        lifecycle = lifecycle_for(decision_id=decision_id)
        if lifecycle is None or review_decide_problem(user=request.user, lifecycle=lifecycle) is not None:
            raise NotFound(_("No such decision in memory."), code="lifecycle_not_found")
        conflicts = DecisionConflict.objects.filter(Q(decision_a_id=lifecycle.decision_id)
                                                    | Q(decision_b_id=lifecycle.decision_id)).order_by("detected_at")
        return Response({"lifecycle": LifecycleOut(lifecycle).data,
                         "transitions": TransitionOut(lifecycle.transitions.order_by("sequence"), many=True).data,
                         "conflicts": ConflictOut(conflicts, many=True).data,
                         "reviews": ReviewOut(lifecycle.reviews.order_by("opened_at"), many=True).data})
