"""Decision authorities: who may decide approval requests, in which domains, up to which impact."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from governance.models.approvals import Impact

ALL_SCOPES = "*"
_SCOPE = re.compile(r"^(\*|[a-z0-9][a-z0-9_\-]{0,63})$")


class AuthorityRole(models.TextChoices):
    SUPER_ADMIN = "super_admin", _("super admin")
    TECH_LEAD = "tech_lead", _("tech lead")
    FINANCE_OFFICER = "finance_officer", _("finance officer")


def scope_errors(scopes) -> list[str]:
    if not isinstance(scopes, list) or not scopes:
        return [str(_('Scopes must be a non-empty JSON list of domains, e.g. ["billing", "ads"] or ["*"].'))]
    bad = [s for s in scopes if not isinstance(s, str) or not _SCOPE.match(s)]
    if bad:
        return [str(_("Not a domain name: %(names)s.") % {"names": ", ".join(map(repr, bad))})]
    return []


class DecisionAuthorityQuerySet(models.QuerySet):
    def in_force(self, now: datetime | None = None) -> DecisionAuthorityQuerySet:
        now = now or timezone.now()
        return self.filter(active=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class DecisionAuthority(models.Model):
    """A grant to one person: decide requests of ``scopes`` (domains, ``*`` for all) up to ``max_impact``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decision_authorities",
                             verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=24, choices=AuthorityRole.choices)
    title = models.CharField(_("title"), max_length=128, blank=True, default="")
    scopes = models.JSONField(_("scopes"), default=list, help_text=_('Domains, e.g. ["billing"]; ["*"] for all.'))
    max_impact = models.CharField(_("max impact"), max_length=16, choices=Impact.choices)
    # Null only for grants made by the system itself (the first super admin's bootstrap, demo data).
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", db_column="granted_by", verbose_name=_("granted by"))
    active = models.BooleanField(_("active"), default=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", db_column="revoked_by", verbose_name=_("revoked by"),
                                   editable=False)
    revoke_reason = models.TextField(_("revocation reason"), blank=True, default="", editable=False)

    history = HistoricalRecords(table_name="decision_authorities_history")
    objects = DecisionAuthorityQuerySet.as_manager()

    class Meta:
        db_table = "decision_authorities"
        verbose_name = _("decision authority")
        verbose_name_plural = _("decision authorities")
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["user", "active"], name="idx_authority_user")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} ≤ {self.max_impact}"

    def clean(self) -> None:
        errors = scope_errors(self.scopes)
        if errors:
            raise ValidationError({"scopes": errors})

    def is_in_force(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.active and (self.expires_at is None or self.expires_at > now)

    def covers_domain(self, domain: str) -> bool:
        return ALL_SCOPES in self.scopes or domain in self.scopes

    def reaches(self, impact: str) -> bool:
        return Impact.rank(self.max_impact) >= Impact.rank(impact)
