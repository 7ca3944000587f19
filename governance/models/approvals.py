"""Approval requests and the append-only, hashed decisions taken on them."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audit.immutable import AppendOnlyModel
from core.integrity.chain import HASH_MAX_LENGTH
from identity.history import history_user


class Impact(models.TextChoices):
    NONE = "none", _("none")
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")
    CRITICAL = "critical", _("critical")

    @classmethod
    def rank(cls, value: str) -> int:
        return IMPACT_ORDER.index(value)

    @classmethod
    def at_most(cls, value: str) -> list[str]:
        """Every impact up to and including ``value``."""
        return IMPACT_ORDER[: IMPACT_ORDER.index(value) + 1]

    @classmethod
    def above(cls, value: str) -> str | None:
        """The next impact above ``value`` (None above critical)."""
        index = IMPACT_ORDER.index(value) + 1
        return IMPACT_ORDER[index] if index < len(IMPACT_ORDER) else None


IMPACT_ORDER = [i.value for i in Impact]


class RequesterType(models.TextChoices):
    USER = "user", _("user")
    AGENT = "agent", _("agent")
    APP = "app", _("application")
    SYSTEM = "system", _("system")


class ApprovalRequestQuerySet(models.QuerySet):
    def pending(self) -> ApprovalRequestQuerySet:
        return self.filter(status=ApprovalRequest.Status.PENDING)

    def open(self, now=None) -> ApprovalRequestQuerySet:
        """Pending and not past their expiry (the expiry job may not have run yet)."""
        return self.pending().filter(expires_at__gt=now or timezone.now())


class ApprovalRequest(models.Model):
    """Work that waits for humans: one domain action, its impact and context, until decided or expired.

    ``impact`` is what the action is (from amount and risk); ``required_impact`` is the authority level that
    may decide it now (equal to ``impact`` until someone escalates). ``required_approvals`` is the quorum fixed
    when the request was made. ``callback`` names the registered callback that continues or stops the waiting
    work (the domain by default).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    domain = models.CharField(_("domain"), max_length=64, db_index=True)
    action = models.CharField(_("action"), max_length=64)
    impact = models.CharField(_("impact"), max_length=16, choices=Impact.choices)
    required_impact = models.CharField(_("required impact"), max_length=16, choices=Impact.choices)
    required_approvals = models.PositiveSmallIntegerField(_("required approvals"), default=1)
    amount = models.BigIntegerField(_("amount (cents)"), default=0)
    risk_score = models.FloatField(_("risk score"), null=True, blank=True)
    context = models.JSONField(_("context"), default=dict, blank=True)
    requested_by = models.UUIDField(_("requested by"), null=True, blank=True)
    requested_by_type = models.CharField(_("requested by type"), max_length=16, choices=RequesterType.choices,
                                         default=RequesterType.SYSTEM)
    reference = models.CharField(_("reference"), max_length=128, blank=True, default="",
                                 help_text=_("The waiting work's id in its domain (one request per reference)."))
    target_type = models.CharField(_("target type"), max_length=64, blank=True, default="")
    target_id = models.CharField(_("target"), max_length=128, blank=True, default="")
    callback = models.CharField(_("callback"), max_length=64, blank=True, default="")
    policy_evaluation = models.ForeignKey("governance.PolicyEvaluation", on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="approval_requests",
                                          verbose_name=_("policy evaluation"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    callback_delivered_at = models.DateTimeField(_("callback delivered at"), null=True, blank=True)

    # get_user: requests made in an app-authenticated API call (an agent's decision) have no user to name.
    history = HistoricalRecords(table_name="approval_requests_history", get_user=history_user)
    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        db_table = "approval_requests"
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="idx_approval_due"),
            models.Index(fields=["status", "domain", "required_impact"], name="idx_approval_inbox"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["callback", "domain", "reference"], condition=~models.Q(reference=""),
                                    name="uniq_approval_reference"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="approval_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}:{self.action} ({self.impact}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.PENDING

    def is_past_expiry(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())


class PartyRelation(models.TextChoices):
    """Why a person is a party of a request: someone on whose behalf it acts, who therefore never decides it."""

    REQUESTER = "requester", _("requester")
    AGENT_OWNER = "agent_owner", _("agent's owner (its tenant)")
    AGENT_CREATOR = "agent_creator", _("agent's creator")
    APP_OWNER = "app_owner", _("owner of the requesting application")
    ACCOUNT_HOLDER = "account_holder", _("account holder")


class ApprovalParty(AppendOnlyModel):
    """A person on whose behalf a request acts (the requester, the agent's owner, the account holder…).

    Written with the request, in its transaction, and append-only in the database: a party can be added, never
    removed, so the list can only narrow who may decide. Nobody decides a request of which they are a party, and
    ``approval_decisions_verify`` reports any decision taken by one."""

    id = models.BigAutoField(primary_key=True)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="parties",
                                verbose_name=_("request"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                             db_column="user_id", verbose_name=_("person"))
    relation = models.CharField(_("relation"), max_length=24, choices=PartyRelation.choices)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "approval_request_parties"
        verbose_name = _("approval request party")
        verbose_name_plural = _("approval request parties")
        ordering = ["request", "id"]
        indexes = [models.Index(fields=["user", "request"], name="idx_approval_party_user")]
        constraints = [
            models.UniqueConstraint(fields=["request", "user", "relation"], name="uniq_approval_party"),
            models.CheckConstraint(condition=models.Q(relation__in=PartyRelation.values),
                                   name="approval_party_relation_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.relation})"


class ApprovalDecision(AppendOnlyModel):
    """One human decision on a request. Append-only (in Django and in the database) and hashed: ``hash`` covers
    the decision's content, the request's fixed content and the previous decision's hash on the same request."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        ESCALATED = "escalated", _("escalated")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="decisions",
                                verbose_name=_("request"))
    sequence = models.PositiveIntegerField(_("sequence"), help_text=_("Position among the request's decisions."))
    authority = models.ForeignKey("governance.DecisionAuthority", on_delete=models.PROTECT, related_name="decisions",
                                  verbose_name=_("authority"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   db_column="decided_by", verbose_name=_("decided by"))
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices)
    justification = models.TextField(_("justification"))
    ip = models.CharField(_("IP address"), max_length=45, null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True, default="")
    previous_hash = models.CharField(_("previous hash"), max_length=HASH_MAX_LENGTH)
    hash = models.CharField(_("hash"), max_length=HASH_MAX_LENGTH, unique=True)
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        db_table = "approval_decisions"
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        ordering = ["-decided_at"]
        constraints = [
            # A second writer racing past the request's row lock still cannot add a decision at the same place.
            models.UniqueConstraint(fields=["request", "sequence"], name="uniq_approval_decision_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.decided_by_id}"
