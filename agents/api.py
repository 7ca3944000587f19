"""The agents REST API: agents and their policies, decisions (scope ``agents``); observer suggestions (scope
``observer``) and people's decisions on them (signed-in users). Mounted at /api/v1/agents/ and /api/v1/observer/.

Every object is read and changed only within the calling application's tenant: another tenant's ids answer 404.
A decision is answered 201 whatever its outcome (executed, pending_approval, rejected, shadowed) with the reasons
of every stage; errors (400, 401, 403, 404, 409, 423) are for requests that are not decisions at all.
"""
from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.errors import POLICY_NOT_FOUND
from agents.executors import domains, executor_get
from agents.models import Agent, AgentDecision, AgentExecutionLog, AgentMemory, AgentPolicy, HumanDecision
from agents.services.agents import agent_create, agent_policy_delete, agent_policy_set, agent_update
from agents.services.decisions import decision_propose
from agents.services.observer import suggestion_decide, suggestion_record
from audit.context import client_ip
from billing import errors as billing_errors
from billing.idempotency import HEADER as IDEMPOTENCY_HEADER
from billing.idempotency import idempotent
from billing.models import MAX_AMOUNT
from core.api import ModelSerializer, Serializer, StrictIntegerField
from core.errors import InvalidInput, NotFound
from governance import conf as governance_conf
from governance.models import AutonomyProfile
from identity.api.common import ErrorSerializer
from identity.authentication import AppCredentialAuthentication, SessionTokenAuthentication
from identity.permissions import IsSignedInUser, scope_required

_ERRORS = {
    400: "Invalid input: validation_error (with field messages, payload.<field> for the payload), unknown_action, "
         "invalid_target, idempotency_key_required (actions that move money), idempotency_key_invalid.",
    401: "Missing or invalid credentials.",
    403: "The credential lacks the scope (scope_required), or the caller is not what the endpoint is for.",
    404: "Not found, or not in the caller's tenant (agent_not_found, decision_not_found, campaign_not_found, "
         "account_not_found, ledger_entry_not_found, suggestion_not_found…).",
    409: "Conflicts with the current state: agent_name_taken, suggestion_already_decided, agent_suspended, "
         "status_locked_by_staff (staff suspended the agent or set the domain's policy in the console: only staff "
         "lift it), idempotency_mismatch / idempotency_in_progress.",
    423: "kill_switch_active: the agents or all kill switch (observer suggestions).",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorSerializer, description=_ERRORS[s]) for s in statuses}


class StrictFloatField(serializers.FloatField):
    """A JSON number (booleans and strings are refused)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class AgentsScoped(APIView):
    permission_classes = [scope_required("agents")]

    @property
    def tenant_id(self):
        return self.request.user.tenant_id

    def agent(self) -> Agent:
        return selectors.agent_get(agent_id=self.kwargs["agent_id"], tenant_id=self.tenant_id)


class Filtered:
    filters: dict[str, tuple[str, list[str]]] = {}

    def filtered(self, queryset):
        """Apply the query-string filters the view declares; an unknown value is a 400, not an empty page."""
        for param, (lookup, choices) in self.filters.items():
            value = self.request.query_params.get(param)
            if value in (None, ""):
                continue
            if value not in choices:
                raise InvalidInput(fields={param: [_("Must be one of: %(v)s.") % {"v": ", ".join(choices)}]})
            queryset = queryset.filter(**{lookup: value})
        return queryset


def _filter_params(filters: dict[str, tuple[str, list[str]]]) -> list[OpenApiParameter]:
    return [OpenApiParameter(name, OpenApiTypes.STR, enum=choices, required=False)
            for name, (_lookup, choices) in filters.items()]


# --- agents ---------------------------------------------------------------------------------------------------------


AutonomyOut = inline_serializer("AgentAutonomy", fields={
    "level": serializers.IntegerField(help_text="Base level: 0 forbidden, 1 shadow, 2 audited, 3 full."),
    "source": serializers.CharField(help_text="profile, or default (no profile: AUTONOMY_DEFAULT_LEVEL)."),
    "action_overrides": serializers.DictField(child=serializers.IntegerField()),
    "max_daily_actions": serializers.IntegerField(allow_null=True),
    "max_amount_per_action": serializers.IntegerField(allow_null=True),
})


class AgentOut(ModelSerializer):
    tenant_id = serializers.UUIDField()
    app_id = serializers.UUIDField(allow_null=True)
    autonomy = serializers.SerializerMethodField(help_text="Set by tech leads in the console (read-only here).")

    class Meta:
        model = Agent
        fields = ["id", "tenant_id", "app_id", "name", "type", "status", "autonomy", "created_at", "updated_at"]

    @extend_schema_field(AutonomyOut)
    def get_autonomy(self, agent: Agent) -> dict:
        profiles = self.context.get("autonomy")
        profile = (profiles.get(agent.pk) if profiles is not None
                   else AutonomyProfile.objects.filter(agent_id=agent.pk).first())
        if profile is None:
            return {"level": governance_conf.get().autonomy_default_level, "source": "default",
                    "action_overrides": {}, "max_daily_actions": None, "max_amount_per_action": None}
        return {"level": profile.base_level, "source": "profile", "action_overrides": profile.action_overrides,
                "max_daily_actions": profile.max_daily_actions,
                "max_amount_per_action": profile.max_amount_per_action}


def _autonomy_map(agents) -> dict:
    ids = [a.pk for a in agents]
    return {p.agent_id: p for p in AutonomyProfile.objects.filter(agent_id__in=ids)}


class AgentIn(Serializer):
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=Agent.Type.choices)
    app_id = serializers.UUIDField(required=False, allow_null=True, default=None,
                                   help_text="One of the tenant's applications (optional).")
    status = serializers.ChoiceField(choices=Agent.Status.choices, default=Agent.Status.ACTIVE)


class AgentPatchIn(Serializer):
    name = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=Agent.Status.choices, required=False)
    app_id = serializers.UUIDField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AgentsView(Filtered, generics.ListAPIView, AgentsScoped):
    serializer_class = AgentOut
    filters = {"type": ("type", Agent.Type.values), "status": ("status", Agent.Status.values)}

    def get_queryset(self) -> QuerySet[Agent]:
        return self.filtered(selectors.agents_for_tenant(tenant_id=self.tenant_id))

    def get_serializer(self, *args, **kwargs):
        if args:
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["autonomy"] = _autonomy_map(args[0])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(tags=["agents"], parameters=_filter_params(filters),
                   responses={200: AgentOut(many=True), **errors(400, 401, 403)}, summary="The tenant's agents")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["agents"], request=AgentIn, responses={201: AgentOut, **errors(400, 401, 403, 404, 409)},
                   summary="Create an agent (observer, operator or executor)",
                   description="New agents have no policy (they may do nothing) and the default autonomy level "
                               "until a tech lead sets their autonomy profile in the console.")
    def post(self, request):
        data = AgentIn(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agent_create(tenant_id=self.tenant_id, **data.validated_data)
        return Response(AgentOut(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(AgentsScoped):
    @extend_schema(tags=["agents"], responses={200: AgentOut, **errors(401, 403, 404)}, summary="One agent")
    def get(self, request, agent_id):
        return Response(AgentOut(self.agent()).data)

    @extend_schema(tags=["agents"], request=AgentPatchIn, responses={200: AgentOut, **errors(400, 401, 403, 404, 409)},
                   summary="Rename, suspend or reactivate an agent, or tie it to another of the tenant's apps")
    def patch(self, request, agent_id):
        data = AgentPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reason = values.pop("reason", "")
        agent = agent_update(agent_id=agent_id, tenant_id=self.tenant_id, reason=reason, **values)
        return Response(AgentOut(agent).data)


# --- agent policies -------------------------------------------------------------------------------------------------


class AgentPolicyOut(ModelSerializer):
    agent_id = serializers.UUIDField()
    allowed_actions = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = AgentPolicy
        fields = ["id", "agent_id", "domain", "allowed_actions", "max_amount", "requires_approval", "max_risk_score",
                  "daily_limit", "created_at", "updated_at"]


class AgentPolicyIn(Serializer):
    allowed_actions = serializers.ListField(child=serializers.CharField(max_length=64), max_length=64,
                                            help_text="Actions of the domain the agent may propose.")
    max_amount = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT, required=False, allow_null=True,
                                    default=None, help_text="Largest amount of one action, in cents; null: none.")
    requires_approval = serializers.BooleanField(required=False, default=False)
    max_risk_score = StrictFloatField(min_value=0, max_value=1, required=False, allow_null=True, default=None)
    daily_limit = StrictIntegerField(min_value=0, max_value=1_000_000, required=False, allow_null=True,
                                     default=None, help_text="Actions per day in this domain; null: none.")


class AgentPoliciesView(generics.ListAPIView, AgentsScoped):
    serializer_class = AgentPolicyOut

    def get_queryset(self) -> QuerySet[AgentPolicy]:
        return selectors.agent_policies(agent=self.agent())

    @extend_schema(tags=["agents"], responses={200: AgentPolicyOut(many=True), **errors(401, 403, 404)},
                   summary="An agent's policies, one per domain")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AgentPolicyView(AgentsScoped):
    @extend_schema(tags=["agents"], responses={200: AgentPolicyOut, **errors(401, 403, 404)},
                   summary="An agent's policy for one domain")
    def get(self, request, agent_id, domain):
        policy = selectors.agent_policy_for(agent_id=self.agent().pk, domain=domain)
        if policy is None:
            raise NotFound(_("This agent has no policy for this domain."), code=POLICY_NOT_FOUND)
        return Response(AgentPolicyOut(policy).data)

    @extend_schema(tags=["agents"], request=AgentPolicyIn,
                   responses={200: AgentPolicyOut, 201: AgentPolicyOut, **errors(400, 401, 403, 404, 409)},
                   summary="Create or replace an agent's policy for a domain (201 created, 200 replaced)")
    def put(self, request, agent_id, domain):
        data = AgentPolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy, created = agent_policy_set(agent_id=agent_id, tenant_id=self.tenant_id, domain=domain,
                                           **data.validated_data)
        return Response(AgentPolicyOut(policy).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(tags=["agents"], request=None, responses={204: None, **errors(401, 403, 404, 409)},
                   summary="Remove an agent's policy for a domain (it may then do nothing there)")
    def delete(self, request, agent_id, domain):
        agent_policy_delete(agent_id=agent_id, tenant_id=self.tenant_id, domain=domain)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- decisions ------------------------------------------------------------------------------------------------------


class ReasonOut(Serializer):
    stage = serializers.ChoiceField(choices=["kill_switch", "agent", "agent_policy", "risk", "policy", "autonomy",
                                             "approval", "execution"])
    code = serializers.CharField(help_text="Stable reason code, e.g. policy_denied, daily_limit_reached.")
    detail = serializers.CharField(help_text="Which rule, policy, score or limit, in words.")


class RiskFactorOut(Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(help_text="0 to 1.")
    weight = serializers.FloatField()
    contribution = serializers.FloatField(help_text="weight * value / sum of weights; they add up to the score.")
    detail = serializers.CharField()


class ExecutionOut(ModelSerializer):
    approved_by = serializers.UUIDField(source="approved_by_id", allow_null=True)

    class Meta:
        model = AgentExecutionLog
        fields = ["id", "executed_by", "result", "executed_at", "approved_by", "detail", "error_code",
                  "error_message"]


class AgentDecisionOut(ModelSerializer):
    agent_id = serializers.UUIDField()
    app_id = serializers.UUIDField(allow_null=True)
    action = serializers.CharField(source="proposed_action")
    reasons = ReasonOut(many=True)
    risk_factors = RiskFactorOut(many=True)
    approval_request_id = serializers.UUIDField(allow_null=True)
    shadow_execution_id = serializers.UUIDField(allow_null=True)
    policy_evaluation_id = serializers.UUIDField(allow_null=True)
    reviewed_by = serializers.UUIDField(source="reviewed_by_id", allow_null=True)
    execution = serializers.SerializerMethodField()

    class Meta:
        model = AgentDecision
        fields = ["id", "agent_id", "app_id", "domain", "action", "target_entity", "payload", "amount", "status",
                  "outcome", "risk_score", "risk_level", "risk_factors", "reasons", "autonomy_level",
                  "approval_request_id", "shadow_execution_id", "policy_evaluation_id", "execution", "reviewed_by",
                  "expires_at", "created_at", "decided_at"]

    @extend_schema_field(ExecutionOut(allow_null=True))
    def get_execution(self, decision: AgentDecision):
        if hasattr(decision, "last_execution"):
            log = decision.last_execution
        else:
            logs = sorted(decision.executions.all(), key=lambda e: e.executed_at)
            log = logs[-1] if logs else None
        return ExecutionOut(log).data if log is not None else None


class AgentDecisionIn(Serializer):
    domain = serializers.CharField(max_length=64, help_text="ads or billing.")
    action = serializers.CharField(max_length=64, help_text="ads: pause_campaign, resume_campaign, set_budget, "
                                                            "record_spend; billing: credit, refund, payout.")
    target_entity = serializers.CharField(max_length=200, help_text="campaign:<uuid>, budget:<uuid>, "
                                                                    "account:<uuid> or entry:<uuid>.")
    payload = serializers.JSONField(required=False, default=dict,
                                    help_text="The action's parameters (docs/domains/agents.md, Executors).")
    expires_in = StrictIntegerField(required=False, allow_null=True, default=None, min_value=60,
                                    max_value=30 * 24 * 3600,
                                    help_text="Seconds the decision may wait for approval (default 24 h).")


class DecisionsView(Filtered, generics.ListAPIView, AgentsScoped):
    serializer_class = AgentDecisionOut
    filters = {"status": ("status", AgentDecision.Status.values),
               "outcome": ("outcome", AgentDecision.Outcome.values),
               "domain": ("domain", domains())}

    def get_queryset(self) -> QuerySet[AgentDecision]:
        return self.filtered(selectors.decisions_for_agent(agent=self.agent())).prefetch_related("executions")

    @extend_schema(tags=["agents"], parameters=_filter_params(filters),
                   responses={200: AgentDecisionOut(many=True), **errors(400, 401, 403, 404)},
                   summary="An agent's decisions, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["agents"], request=AgentDecisionIn,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                     description="Required for actions that move money (record_spend, credit, "
                                                 "refund, payout); optional otherwise. The same key and body "
                                                 "replay the first answer; another body answers 409.")],
        responses={201: AgentDecisionOut, **errors(400, 401, 403, 404, 409)},
        summary="Propose a decision: kill switches, agent policy, risk, policy engine, autonomy, approval, execution",
        description="Answered 201 with the outcome (executed, pending_approval, rejected, shadowed) and the reasons "
                    "of every stage that decided: `{stage, code, detail}`. A decision pending approval continues "
                    "when an authority decides it (GET it again to see the execution).",
    )
    @idempotent(required=False)
    def post(self, request, agent_id):
        data = AgentDecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        executor = executor_get(values["domain"], values["action"])
        if executor.moves_money and IDEMPOTENCY_HEADER not in request.headers:
            raise InvalidInput(_("This action moves money: send an Idempotency-Key header."),
                               code=billing_errors.IDEMPOTENCY_KEY_REQUIRED,
                               fields={IDEMPOTENCY_HEADER: [_("This header is required.")]})
        decision = decision_propose(agent_id=agent_id, tenant_id=self.tenant_id, app_id=request.user.app_id,
                                    domain=values["domain"], action=values["action"],
                                    target_entity=values["target_entity"], payload=values["payload"],
                                    expires_in=values["expires_in"])
        return Response(AgentDecisionOut(decision).data, status=status.HTTP_201_CREATED)


class DecisionDetailView(AgentsScoped):
    @extend_schema(tags=["agents"], responses={200: AgentDecisionOut, **errors(401, 403, 404)},
                   summary="One decision with its reasons, risk factors and last execution")
    def get(self, request, agent_id, decision_id):
        decision = selectors.decision_get(decision_id=decision_id, agent=self.agent())
        decision.last_execution = selectors.decision_last_execution(decision=decision)
        return Response(AgentDecisionOut(decision).data)


# --- observer -------------------------------------------------------------------------------------------------------


class HumanDecisionOut(ModelSerializer):
    suggestion_id = serializers.UUIDField()
    decided_by = serializers.UUIDField(source="decided_by_id")

    class Meta:
        model = HumanDecision
        fields = ["id", "suggestion_id", "decision", "reason", "human", "decided_by", "channel", "created_at"]


class SuggestionOut(ModelSerializer):
    agent_id = serializers.UUIDField(source="observer_id")
    agent = serializers.CharField(source="agent_name")
    snapshot = serializers.JSONField(source="snapshot_data")
    status = serializers.SerializerMethodField(help_text="pending, or the last decision.")
    decisions = serializers.SerializerMethodField()

    class Meta:
        model = AgentMemory
        fields = ["id", "agent_id", "agent", "confidence", "finding", "suggestion", "snapshot", "snapshot_hash",
                  "created_at", "status", "decisions"]

    @extend_schema_field(serializers.ChoiceField(choices=["pending", *HumanDecision.Decision.values]))
    def get_status(self, memory: AgentMemory) -> str:
        decisions = self._decisions(memory)
        return decisions[-1].decision if decisions else "pending"

    @extend_schema_field(HumanDecisionOut(many=True))
    def get_decisions(self, memory: AgentMemory):
        return HumanDecisionOut(self._decisions(memory), many=True).data

    @staticmethod
    def _decisions(memory: AgentMemory) -> list[HumanDecision]:
        return sorted(memory.decisions.all(), key=lambda d: d.created_at)


class SuggestionIn(Serializer):
    agent_id = serializers.UUIDField(help_text="An active observer agent of the tenant.")
    confidence = StrictFloatField(min_value=0, max_value=1)
    finding = serializers.CharField(max_length=10_000)
    suggestion = serializers.CharField(max_length=10_000)
    snapshot = serializers.JSONField(help_text="The observed state (a JSON object); its canonical JSON is hashed.")


def _with_status(queryset: QuerySet[AgentMemory]) -> QuerySet[AgentMemory]:
    last = HumanDecision.objects.filter(suggestion=OuterRef("pk")).order_by("-created_at").values("decision")[:1]
    return queryset.annotate(last_decision=Subquery(last)).prefetch_related("decisions")


SUGGESTION_STATUSES = ["pending", *HumanDecision.Decision.values]


def _filter_status(request, queryset: QuerySet[AgentMemory]) -> QuerySet[AgentMemory]:
    wanted = request.query_params.get("status")
    if wanted in (None, ""):
        return queryset
    if wanted not in SUGGESTION_STATUSES:
        raise InvalidInput(fields={"status": [_("Must be one of: %(v)s.") % {"v": ", ".join(SUGGESTION_STATUSES)}]})
    if wanted == "pending":
        return queryset.filter(last_decision__isnull=True)
    return queryset.filter(last_decision=wanted)


_STATUS_PARAM = OpenApiParameter("status", OpenApiTypes.STR, enum=SUGGESTION_STATUSES, required=False,
                                 description="pending: not decided yet; otherwise the last decision.")


class ObserverScoped(APIView):
    permission_classes = [scope_required("observer")]


class SuggestionsView(generics.ListAPIView, ObserverScoped):
    serializer_class = SuggestionOut

    def get_queryset(self) -> QuerySet[AgentMemory]:
        queryset = _with_status(selectors.suggestions_for_tenant(tenant_id=self.request.user.tenant_id))
        return _filter_status(self.request, queryset)

    @extend_schema(tags=["observer"], parameters=[_STATUS_PARAM],
                   responses={200: SuggestionOut(many=True), **errors(400, 401, 403)},
                   summary="The tenant's observer suggestions, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["observer"], request=SuggestionIn,
                   responses={201: SuggestionOut, **errors(400, 401, 403, 404, 409, 423)},
                   summary="Record an observer's suggestion (append-only, snapshot hashed)",
                   description="`snapshot_hash` is the SHA-256 (hex) of the snapshot's canonical JSON as stored "
                               "(RFC 8785: keys sorted, no whitespace, UTF-8 not escaped). People decide it with "
                               "`POST /api/v1/observer/suggestions/{id}/decisions`.")
    def post(self, request):
        data = SuggestionIn(data=request.data)
        data.is_valid(raise_exception=True)
        memory = suggestion_record(tenant_id=request.user.tenant_id, app_id=request.user.app_id,
                                   **data.validated_data)
        return Response(SuggestionOut(memory).data, status=status.HTTP_201_CREATED)


class SuggestionDetailView(ObserverScoped):
    @extend_schema(tags=["observer"], responses={200: SuggestionOut, **errors(401, 403, 404)},
                   summary="One suggestion with the decisions taken on it")
    def get(self, request, suggestion_id):
        memory = selectors.suggestion_get(suggestion_id=suggestion_id, tenant_id=request.user.tenant_id)
        return Response(SuggestionOut(memory).data)


class SignedInView(APIView):
    # Session tokens first, so that a missing token is answered with the Bearer challenge; app credentials are
    # still recognised, so that an application gets a clear 403 rather than a 401.
    authentication_classes = [SessionTokenAuthentication, AppCredentialAuthentication]
    permission_classes = [IsSignedInUser]


class ObserverInboxView(SignedInView, generics.ListAPIView):
    serializer_class = SuggestionOut

    def get_queryset(self) -> QuerySet[AgentMemory]:
        queryset = _with_status(selectors.suggestions_decidable_by(user=self.request.user)).order_by("-created_at")
        return _filter_status(self.request, queryset)

    @extend_schema(tags=["observer"], parameters=[_STATUS_PARAM],
                   responses={200: SuggestionOut(many=True), **errors(400, 401, 403)},
                   summary="Suggestions the signed-in person may decide (their tenant's, or all with an authority "
                           "covering agents)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class HumanDecisionIn(Serializer):
    decision = serializers.ChoiceField(choices=HumanDecision.Decision.choices)
    reason = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=False,
                                   help_text="Why: at least 3 characters.")


class SuggestionDecisionView(SignedInView):
    @extend_schema(tags=["observer"], request=HumanDecisionIn,
                   responses={201: HumanDecisionOut, **errors(400, 401, 403, 404, 409)},
                   summary="Accept, ignore or defer a suggestion",
                   description="With a user session (Bearer). One decision per suggestion unless the previous "
                               "one was deferred (409 suggestion_already_decided). IP and user agent are recorded.")
    def post(self, request, suggestion_id):
        memory = selectors.suggestion_get_for_user(user=request.user, suggestion_id=suggestion_id)
        data = HumanDecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = suggestion_decide(suggestion_id=memory.pk, user=request.user, ip=client_ip(request),
                                user_agent=request.META.get("HTTP_USER_AGENT", ""), **data.validated_data)
        return Response(HumanDecisionOut(row).data, status=status.HTTP_201_CREATED)
