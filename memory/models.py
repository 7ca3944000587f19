"""Catalog domain Memory: decision lifecycles, their hashed transitions, conflicts, precedents and reviews.

A lifecycle follows one approved decision (an agent's decision a person or the pipeline approved) or one authority
grant, by the decision's id (``decision_id``, unique): the other Memory tables point at that id, so their
``decision_id`` columns hold the decision's own id, as the catalog says. States change only through
``memory.services.lifecycle_transition``, which appends a hashed ``lifecycle_transitions`` row.

The tables were created by the governance app's migrations and keep their names (``db_table``): the ``memory``
app's first migration only takes them over in Django's state.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.immutable import AppendOnlyModel
from core.integrity.chain import HASH_MAX_LENGTH


class LifecycleState(models.TextChoices):
    ACTIVE = "active", _("active")
    EXPIRED = "expired", _("expired")
    SUPERSEDED = "superseded", _("superseded")
    REVOKED = "revoked", _("revoked")
    UNDER_REVIEW = "under_review", _("under review")


# A decision still stands (it counts for conflicts, reviews and the console) while active or under review.
IN_FORCE_STATES = (LifecycleState.ACTIVE, LifecycleState.UNDER_REVIEW)


class DecisionType(models.TextChoices):
    APPROVAL = "approval", _("approval")
    AUTHORITY_GRANT = "authority_grant", _("authority grant")


class ExpirationType(models.TextChoices):
    EXPIRES_AT = "expires_at", _("expires at a time")
    EXPIRES_ON_CONDITION = "expires_on_condition", _("expires on a condition")
    REVIEW_REQUIRED = "review_required", _("review required")


class TriggerType(models.TextChoices):
    HUMAN = "human", _("human")
    SYSTEM = "system", _("system")
    TIME = "time", _("time")


class DecisionLifecycleQuerySet(models.QuerySet):
    def in_force(self, now=None) -> DecisionLifecycleQuerySet:
        """Active or under review, and not past ``expires_at``: a lapsed decision stops standing at its expiry
        time, even before the scheduled job records the transition."""
        now = now or timezone.now()
        return self.filter(state__in=IN_FORCE_STATES).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def on_target(self, target_type: str, target_id: str) -> DecisionLifecycleQuerySet:
        return self.filter(target_type=target_type, target_id=str(target_id))


class DecisionLifecycle(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision_id = models.UUIDField(_("decision"), unique=True)
    decision_type = models.CharField(_("decision type"), max_length=24, choices=DecisionType.choices)
    state = models.CharField(_("state"), max_length=16, choices=LifecycleState.choices,
                             default=LifecycleState.ACTIVE)
    expiration_type = models.CharField(_("expiration type"), max_length=24, choices=ExpirationType.choices)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    next_review_at = models.DateTimeField(_("next review at"), null=True, blank=True)
    domain = models.CharField(_("domain"), max_length=64)
    superseded_by = models.ForeignKey("self", to_field="decision_id", db_column="superseded_by", null=True,
                                      blank=True, on_delete=models.PROTECT, related_name="supersedes",
                                      verbose_name=_("superseded by"))
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=64, blank=True, default="")
    target_id = models.CharField(_("target"), max_length=128, blank=True, default="")
    reference = models.CharField(_("money reference"), max_length=200, blank=True, default="",
                                 help_text=_("The account or entry whose money the decision moves, if any."))
    direction = models.CharField(_("direction"), max_length=16, blank=True, default="",
                                 help_text=_("pause/resume, raise/lower, credit/debit: which way it pulls."))
    amount = models.BigIntegerField(_("amount (cents)"), default=0)
    scopes = models.JSONField(_("scopes"), default=list, blank=True,
                              help_text=_("The domains it covers (authority grants)."))
    subject_id = models.UUIDField(_("subject"), null=True, blank=True, db_index=True,
                                  help_text=_("Who acts under it: the agent, or the person granted authority."))
    tenant_id = models.UUIDField(_("tenant"), null=True, blank=True)
    condition = models.CharField(_("expiry condition"), max_length=64, blank=True, default="",
                                 help_text=_("For expires_on_condition: the registered condition's name."))
    context = models.JSONField(_("context"), default=dict, blank=True)
    policy_evaluation = models.ForeignKey("governance.PolicyEvaluation", on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="+", db_column="policy_evaluation_id",
                                          verbose_name=_("policy evaluation"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = DecisionLifecycleQuerySet.as_manager()

    class Meta:
        db_table = "decision_lifecycles"
        verbose_name = _("decision lifecycle")
        verbose_name_plural = _("decision lifecycles")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="idx_lifecycle_expiry"),
            models.Index(fields=["state", "next_review_at"], name="idx_lifecycle_review"),
            models.Index(fields=["target_type", "target_id", "state"], name="idx_lifecycle_target"),
            models.Index(fields=["reference", "state"], name="idx_lifecycle_reference"),
            models.Index(fields=["domain", "action", "state"], name="idx_lifecycle_action"),
            # Conflict detection: the latest decision in force of each kind is one lookup (``consequences``).
            models.Index(fields=["target_type", "target_id", "direction", "created_at", "decision_id"],
                         condition=Q(state__in=IN_FORCE_STATES), name="idx_lifecycle_force_direction"),
            models.Index(fields=["target_type", "target_id", "action", "domain", "created_at", "decision_id"],
                         condition=Q(state__in=IN_FORCE_STATES), name="idx_lifecycle_force_action"),
            models.Index(fields=["reference", "direction", "created_at", "decision_id"],
                         condition=Q(state__in=IN_FORCE_STATES), name="idx_lifecycle_force_reference"),
            models.Index(fields=["subject_id", "decision_type", "created_at", "decision_id"],
                         condition=Q(state__in=IN_FORCE_STATES), name="idx_lifecycle_force_subject"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=LifecycleState.values), name="lifecycle_state_valid"),
            models.CheckConstraint(condition=~Q(expiration_type="expires_at") | Q(expires_at__isnull=False),
                                   name="lifecycle_expires_at_set"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}.{self.action} {self.decision_id} ({self.state})"

    @property
    def target(self) -> str:
        return f"{self.target_type}:{self.target_id}" if self.target_type else ""

    def is_in_force(self, now=None) -> bool:
        now = now or timezone.now()
        return self.state in IN_FORCE_STATES and (self.expires_at is None or self.expires_at > now)


class LifecycleTransition(AppendOnlyModel):
    """One change of a lifecycle's state. Append-only in Django and in the database; ``hash`` covers the row's
    content and the decision's previous transition hash (see ``memory.transition_hash``), in a versioned format."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.ForeignKey(DecisionLifecycle, to_field="decision_id", db_column="decision_id",
                                 on_delete=models.PROTECT, related_name="transitions", verbose_name=_("decision"))
    sequence = models.PositiveIntegerField(_("sequence"), help_text=_("Position among the decision's transitions."))
    from_state = models.CharField(_("from state"), max_length=16, blank=True, default="",
                                  help_text=_("Empty for the lifecycle's opening."))
    to_state = models.CharField(_("to state"), max_length=16, choices=LifecycleState.choices)
    triggered_by = models.UUIDField(_("triggered by"), null=True, blank=True)
    triggered_by_type = models.CharField(_("triggered by type"), max_length=8, choices=TriggerType.choices)
    reason = models.TextField(_("reason"))
    previous_hash = models.CharField(_("previous hash"), max_length=HASH_MAX_LENGTH)
    hash = models.CharField(_("hash"), max_length=HASH_MAX_LENGTH, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "lifecycle_transitions"
        verbose_name = _("lifecycle transition")
        verbose_name_plural = _("lifecycle transitions")
        ordering = ["decision_id", "sequence"]
        constraints = [
            # A second writer racing past the lifecycle's row lock still cannot add a transition at the same place.
            models.UniqueConstraint(fields=["decision", "sequence"], name="uniq_lifecycle_transition_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class ConflictType(models.TextChoices):
    RESOURCE = "resource", _("resource")
    DIRECTION = "direction", _("direction")
    SCOPE = "scope", _("scope")
    TEMPORAL = "temporal", _("temporal")


class ConflictState(models.TextChoices):
    DETECTED = "detected", _("detected")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    RESOLVED = "resolved", _("resolved")
    DISSOLVED = "dissolved", _("dissolved")


OPEN_CONFLICT_STATES = (ConflictState.DETECTED, ConflictState.ACKNOWLEDGED)


class DecisionConflictQuerySet(models.QuerySet):
    def unresolved(self) -> DecisionConflictQuerySet:
        return self.filter(state__in=OPEN_CONFLICT_STATES)


class DecisionConflict(models.Model):
    """Two decisions in force that pull one target opposite ways or overlap. ``decision_a`` stood first;
    ``decision_b`` is the one whose activation found the conflict."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision_a = models.ForeignKey(DecisionLifecycle, to_field="decision_id", db_column="decision_a_id",
                                   on_delete=models.PROTECT, related_name="conflicts_as_a",
                                   verbose_name=_("decision A"))
    decision_b = models.ForeignKey(DecisionLifecycle, to_field="decision_id", db_column="decision_b_id",
                                   on_delete=models.PROTECT, related_name="conflicts_as_b",
                                   verbose_name=_("decision B"))
    conflict_type = models.CharField(_("conflict type"), max_length=16, choices=ConflictType.choices)
    state = models.CharField(_("state"), max_length=16, choices=ConflictState.choices,
                             default=ConflictState.DETECTED)
    description = models.TextField(_("description"))
    prevailing = models.ForeignKey(DecisionLifecycle, to_field="decision_id", db_column="prevailing_id", null=True,
                                   blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("prevailing decision"))
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", db_column="resolved_by", verbose_name=_("resolved by"))
    target_type = models.CharField(_("target type"), max_length=64, blank=True, default="")
    target_id = models.CharField(_("target"), max_length=200, blank=True, default="")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", db_column="acknowledged_by",
                                        verbose_name=_("acknowledged by"))
    resolution_note = models.TextField(_("resolution note"), blank=True, default="")
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now, editable=False)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = DecisionConflictQuerySet.as_manager()

    class Meta:
        db_table = "decision_conflicts"
        verbose_name = _("decision conflict")
        verbose_name_plural = _("decision conflicts")
        ordering = ["-detected_at"]
        indexes = [
            models.Index(fields=["state", "target_type", "target_id"], name="idx_conflict_target"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["decision_a", "decision_b", "conflict_type"],
                                    condition=Q(state__in=["detected", "acknowledged"]),
                                    name="uniq_open_conflict_pair"),
            models.CheckConstraint(condition=~Q(decision_a=models.F("decision_b")), name="conflict_two_decisions"),
        ]

    def __str__(self) -> str:
        return f"{self.conflict_type} conflict ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_CONFLICT_STATES


class PrecedentState(models.TextChoices):
    ACTIVE = "active", _("active")
    DEPRECATED = "deprecated", _("deprecated")
    CONTESTED = "contested", _("contested")
    ARCHIVED = "archived", _("archived")


class DecisionPrecedent(models.Model):
    """What a reviewed decision taught: its context and its observed result. Memory, not authority: precedents
    are shown to approvers and never decide anything."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    original_decision = models.OneToOneField(DecisionLifecycle, to_field="decision_id",
                                             db_column="original_decision_id", on_delete=models.PROTECT,
                                             related_name="precedent", verbose_name=_("original decision"))
    domain = models.CharField(_("domain"), max_length=64)
    action = models.CharField(_("action"), max_length=64)
    original_context = models.TextField(_("original context"), help_text=_("JSON snapshot."))
    observed_result = models.TextField(_("observed result"), help_text=_("JSON."))
    state = models.CharField(_("state"), max_length=16, choices=PrecedentState.choices,
                             default=PrecedentState.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   db_column="created_by", verbose_name=_("created by"))
    amount = models.BigIntegerField(_("amount (cents)"), default=0)
    state_reason = models.TextField(_("reason for the state"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        db_table = "decision_precedents"
        verbose_name = _("decision precedent")
        verbose_name_plural = _("decision precedents")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["domain", "action", "state"], name="idx_precedent_lookup")]

    def __str__(self) -> str:
        return f"{self.domain}.{self.action} precedent ({self.state})"


class ReviewType(models.TextChoices):
    PERIODIC = "periodic", _("periodic")
    CONTEXT_CHANGE = "context_change", _("context change")
    POLICY_CHANGE = "policy_change", _("policy change")


class ReviewOutcome(models.TextChoices):
    RENEWED = "renewed", _("renewed")
    REVOKED = "revoked", _("revoked")
    SUPERSEDED = "superseded", _("superseded")
    PENDING = "pending", _("pending")


class DecisionReviewQuerySet(models.QuerySet):
    def open(self) -> DecisionReviewQuerySet:
        return self.filter(decided_at__isnull=True)


class DecisionReview(models.Model):
    """A question put to a person with authority: does this decision still stand? Open while ``decided_at`` is
    empty (``outcome`` pending); ``pending`` decided means "keep it under review until ``next_review_at``"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.ForeignKey(DecisionLifecycle, to_field="decision_id", db_column="decision_id",
                                 on_delete=models.PROTECT, related_name="reviews", verbose_name=_("decision"))
    review_type = models.CharField(_("review type"), max_length=16, choices=ReviewType.choices)
    review_reason = models.TextField(_("review reason"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ReviewOutcome.choices,
                               default=ReviewOutcome.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", db_column="decided_by", verbose_name=_("decided by"))
    justification = models.TextField(_("justification"), blank=True, default="")
    triggered_by = models.UUIDField(_("opened by"), null=True, blank=True)
    triggered_by_type = models.CharField(_("opened by type"), max_length=8, choices=TriggerType.choices)
    policy = models.ForeignKey("governance.Policy", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("policy"))
    policy_version = models.PositiveIntegerField(_("policy version"), null=True, blank=True)
    next_review_at = models.DateTimeField(_("next review at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    objects = DecisionReviewQuerySet.as_manager()

    class Meta:
        db_table = "decision_reviews"
        verbose_name = _("decision review")
        verbose_name_plural = _("decision reviews")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["decided_at", "opened_at"], name="idx_review_open")]
        constraints = [
            models.UniqueConstraint(fields=["decision"], condition=Q(decided_at__isnull=True),
                                    name="uniq_open_review_per_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.get_review_type_display()} review ({self.outcome})"

    @property
    def is_open(self) -> bool:
        return self.decided_at is None
