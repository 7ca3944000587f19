"""Console pages that span apps: the approval inbox and the kill switch page.

Decisions go through the same services as the API: the inbox posts to the approval request's decide view
(``approval_decide``), the kill switch page calls ``killswitch_activate`` / ``killswitch_deactivate``.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.memory_hooks import approval_memory_for
from core.admin import ReasonForm, money, reason_field
from core.errors import ServiceError

INBOX_LIMIT = 50


def _card(request_obj, *, user, agent_decision, options, refusal=None):
    from governance.models import ApprovalDecision

    context = request_obj.context if isinstance(request_obj.context, dict) else {}
    factors = (agent_decision.risk_factors if agent_decision else None) or context.get("risk_factors") or []
    reasons = (agent_decision.reasons if agent_decision else None) or context.get("reasons") or []
    decisions = list(request_obj.decisions.order_by("sequence").select_related("decided_by"))
    return {
        "request": request_obj,
        "amount": money(request_obj.amount, context.get("currency", "")) if request_obj.amount else "—",
        "risk_factors": factors if isinstance(factors, list) else [factors],
        "reasons": reasons if isinstance(reasons, list) else [reasons],
        "agent_decision": agent_decision,
        "approvals": sum(1 for d in decisions if d.decision == ApprovalDecision.Decision.APPROVED),
        "decisions": decisions,
        "options": options,
        "refusal": refusal,
        "memory": approval_memory_for(request_obj),
        "decide_url": reverse("admin:governance_approvalrequest_decide", args=[request_obj.pk]),
        "change_url": reverse("admin:governance_approvalrequest_change", args=[request_obj.pk]),
    }


def inbox(request):
    """Pending requests: the viewer's decidable ones first, then the others still open (shown, not decidable;
    those made on the viewer's behalf say so)."""
    from agents.models import AgentDecision
    from governance.models import ApprovalRequest
    from governance.selectors import approval_requests_on_behalf_of, approvals_decidable_by
    from governance.services.approvals import approval_decide_choice, approval_decision_options

    user = request.user
    if not user.has_perm("governance.view_approvalrequest"):
        raise PermissionDenied
    now = timezone.now()
    mine = list(approvals_decidable_by(user=user, now=now).order_by("expires_at")[:INBOX_LIMIT])
    others = list(ApprovalRequest.objects.open(now).exclude(pk__in=[r.pk for r in mine])
                  .order_by("expires_at")[:INBOX_LIMIT])
    agent_decisions = {d.approval_request_id: d for d in AgentDecision.objects.filter(
        approval_request__in=[r.pk for r in mine + others]).select_related("agent")}
    cards_mine = [_card(r, user=user, agent_decision=agent_decisions.get(r.pk),
                        options=approval_decision_options(request=r, user=user)) for r in mine]
    on_behalf = approval_requests_on_behalf_of(user=user, request_ids=[r.pk for r in others])
    cards_others = [_card(r, user=user, agent_decision=agent_decisions.get(r.pk), options=[],
                          refusal=approval_decide_choice(request=r, user=user) if r.pk in on_behalf else None)
                    for r in others]
    from governance.admin import DecideForm

    context = {
        **admin.site.each_context(request),
        "title": _("Approval inbox"),
        "mine": cards_mine,
        "others": cards_others,
        "decide_form": DecideForm(),
        "labels": {"approved": _("Approve"), "rejected": _("Reject"), "escalated": _("Escalate")},
        "inbox_url": reverse("admin:inbox"),
    }
    return TemplateResponse(request, "admin/console/inbox.html", context)


# --- kill switches ------------------------------------------------------------------------------------------------


class SwitchReasonForm(ReasonForm):
    reason = reason_field(help_text=_("Required. Kept on the switch, in its history and in the audit log."))


class ActivateForm(SwitchReasonForm):
    expires_at = forms.DateTimeField(label=_("Expires at"), required=False,
                                     help_text=_("Optional, UTC, e.g. 2030-01-31 18:00. The switch stops "
                                                 "applying by itself at that time."))


OPERATIONS = {"activate": ActivateForm, "deactivate": SwitchReasonForm}


def killswitches(request):
    """Every scope's state, with activate / deactivate buttons for those who may change switches."""
    from infrastructure.models import KillSwitch

    user = request.user
    if not user.has_perm("infrastructure.view_killswitch"):
        raise PermissionDenied
    now = timezone.now()
    rows = {s.scope: s for s in KillSwitch.objects.all()}
    scopes = []
    for value, label in KillSwitch.Scope.choices:
        switch = rows.get(value)
        in_force = bool(switch and switch.is_in_force(now))
        scopes.append({"scope": value, "label": label, "switch": switch, "in_force": in_force,
                       "halted_by_all": value != "all" and bool(rows.get("all") and rows["all"].is_in_force(now))})
    context = {**admin.site.each_context(request), "title": _("Kill switches"), "scopes": scopes,
               "can_change": user.has_perm("infrastructure.change_killswitch")}
    return TemplateResponse(request, "admin/console/killswitches.html", context)


def killswitch_confirm(request, scope: str, operation: str):
    """The confirm step: what will happen, and the mandatory reason (and, to activate, an optional expiry)."""
    from infrastructure.models import KillSwitch
    from infrastructure.services.killswitches import killswitch_activate, killswitch_deactivate

    if operation not in OPERATIONS or scope not in KillSwitch.Scope.values:
        raise Http404
    if not request.user.has_perm("infrastructure.change_killswitch"):
        raise PermissionDenied
    form = OPERATIONS[operation](request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            if operation == "activate":
                killswitch_activate(scope, reason=form.cleaned_data["reason"], actor=request.user,
                                    expires_at=form.cleaned_data.get("expires_at"))
                messages.success(request, _("The %(scope)s kill switch is active: that scope is halted.")
                                 % {"scope": scope})
            else:
                killswitch_deactivate(scope, reason=form.cleaned_data["reason"], actor=request.user)
                messages.success(request, _("The %(scope)s kill switch is off: that scope runs again.")
                                 % {"scope": scope})
        except ServiceError as exc:
            for field, problems in (exc.fields or {}).items():
                form.add_error(field if field in form.fields else None, problems)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            return HttpResponseRedirect(reverse("admin:killswitches"))
    switch = KillSwitch.objects.filter(scope=scope).first()
    context = {**admin.site.each_context(request), "scope": scope, "operation": operation, "form": form,
               "switch": switch, "danger": operation == "activate",
               "title": (_("Activate the %(scope)s kill switch") if operation == "activate"
                         else _("Deactivate the %(scope)s kill switch")) % {"scope": scope}}
    return TemplateResponse(request, "admin/console/killswitch_confirm.html", context)
