"""The Django admin, served as the PROST-QS governance console.

The site adds to Django's admin: a second factor (TOTP, django-otp) for every staff member with an enrolment page,
failed sign-ins counted in the database with a lockout, a dashboard on the index, the approval inbox and the kill
switch page. Append-only tables can only be registered with a read-only admin, and history pages never accept a
POST (no revert, whoever asks).
"""
from __future__ import annotations

import base64
from functools import update_wrapper
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db.models import JSONField
from django.db.models.base import ModelBase
from django.forms.fields import InvalidJSONInput
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

TOKEN_HELP = _("The 6-digit code your authenticator app shows now.")


class TokenForm(forms.Form):
    token = forms.RegexField(label=_("Code"), regex=r"^\s*\d{6}\s*$", help_text=TOKEN_HELP,
                             error_messages={"invalid": _("Enter the 6 digits.")},
                             widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                           "autofocus": True, "size": 8}))


class StorableJSONField(forms.JSONField):
    """Django's JSON form field, refusing what the API's parser refuses: nesting deeper than it allows, and text
    no database column can hold (NUL, a lone UTF-16 surrogate such as ``"\\udfff"``, which JSON can spell but no
    UTF-8 encoder writes). Without it such a value reached PostgreSQL and the page answered 500."""

    def to_python(self, value):
        from core.api import json_problem

        converted = super().to_python(value)
        problem = json_problem(converted)
        if problem:
            raise ValidationError(problem, code="invalid")
        return converted

    def bound_data(self, data, initial):
        from core.api import json_problem

        value = super().bound_data(data, initial)
        if not isinstance(value, InvalidJSONInput) and json_problem(value):
            return InvalidJSONInput(data)  # shown again as typed: the decoded text cannot even be written to the page
        return value


def _lockout_message(until) -> str:
    minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
    return str(_("Too many failed attempts. Sign-in is locked for about %(minutes)d more minute(s); an "
                 "administrator can lift the lock (Identity → Rate-limit entries).") % {"minutes": minutes})


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("PROST-QS governance console")
    site_title = _("PROST-QS governance console")
    index_title = _("Governance dashboard")
    index_template = "admin/console/index.html"

    # --- structure: append-only rows are read-only, history is never reverted --------------------------------

    def register(self, model_or_iterable, admin_class=None, **options):
        from audit.immutable import AppendOnlyModel
        from core.admin import ReadOnlyPermissions

        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else list(model_or_iterable)
        for model in models:
            if issubclass(model, AppendOnlyModel) and not (
                    admin_class is not None and issubclass(admin_class, ReadOnlyPermissions)):
                raise ImproperlyConfigured(
                    f"{model._meta.label} is append-only: register it with core.admin.ReadOnlyAdmin")
        for inline in getattr(admin_class, "inlines", ()) or ():
            if issubclass(inline.model, AppendOnlyModel) and not issubclass(inline, ReadOnlyPermissions):
                raise ImproperlyConfigured(
                    f"{inline.model._meta.label} is append-only: show it with core.admin.ReadOnlyInline")
        super().register(model_or_iterable, admin_class, **options)
        for model_admin in filter(None, map(self._registry.get, models)):  # a swapped-out model is not registered
            # Every JSON field of every console form refuses what the database cannot store, as the API does.
            overrides = model_admin.formfield_overrides
            overrides[JSONField] = {**overrides.get(JSONField, {}), "form_class": StorableJSONField}

    def admin_view(self, view, cacheable=False):
        if getattr(view, "__name__", "") == "history_form_view":
            history_view = view

            def read_only_history(request, *args, **kwargs):
                if request.method not in ("GET", "HEAD"):
                    raise PermissionDenied  # a revert would bypass the services, their checks and their audit
                return history_view(request, *args, **kwargs)

            view = update_wrapper(read_only_history, history_view)
        return super().admin_view(view, cacheable)

    # --- the second factor ------------------------------------------------------------------------------------

    def has_permission(self, request) -> bool:
        user = request.user
        return super().has_permission(request) and getattr(user, "is_verified", lambda: False)()

    def get_urls(self):
        from console import views as console_views

        urls = [
            path("second-factor/", self._half_signed_in(self.second_factor), name="second_factor"),
            path("second-factor/enrol/", self._half_signed_in(self.enrol), name="second_factor_enrol"),
            path("inbox/", self.admin_view(console_views.inbox), name="inbox"),
            path("killswitches/", self.admin_view(console_views.killswitches), name="killswitches"),
            path("killswitches/<str:scope>/<str:operation>/", self.admin_view(console_views.killswitch_confirm),
                 name="killswitch_confirm"),
        ]
        return urls + super().get_urls()

    def _half_signed_in(self, view):
        """For the second-factor pages: a staff member who gave the right password, verified or not."""

        def inner(request, *args, **kwargs):
            user = request.user
            if not (user.is_authenticated and user.is_active and user.is_staff):
                return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
            return view(request, *args, **kwargs)

        return update_wrapper(never_cache(csrf_protect(inner)), view)

    def _next_url(self, request) -> str:
        candidate = request.POST.get("next") or request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
            return candidate
        return reverse("admin:index", current_app=self.name)

    def _step_url(self, name: str, next_url: str) -> str:
        return reverse(f"admin:{name}", current_app=self.name) + "?" + urlencode({"next": next_url})

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        from audit.context import client_ip
        from identity.services.console_login import (
            console_login_attempt,
            console_login_failed,
            console_login_passed,
            ip_key,
            user_key,
        )

        user = request.user
        if (request.method == "GET" and user.is_authenticated and user.is_active and user.is_staff
                and not user.is_verified()):
            return HttpResponseRedirect(self._step_url("second_factor", self._next_url(request)))
        if request.method != "POST":
            return super().login(request, extra_context)
        username = request.POST.get("username", "")
        keys = [user_key(username), ip_key(client_ip(request))]
        # The guess is counted before the password is checked, so parallel requests cannot all slip under the limit.
        until = console_login_attempt(keys)
        if until is not None:
            return self._locked(request, until, extra_context)
        response = super().login(request, extra_context)
        if response.status_code == 302 and request.user.is_authenticated:
            console_login_passed(keys)
            return HttpResponseRedirect(self._step_url("second_factor", self._next_url(request)))
        until = console_login_failed(keys)
        if until is not None:
            return self._locked(request, until, extra_context)
        return response

    def _locked(self, request, until, extra_context=None):
        context = {**self.each_context(request), "title": _("Sign-in locked"), "message": _lockout_message(until),
                   **(extra_context or {})}
        return TemplateResponse(request, "admin/console/locked.html", context, status=429)

    def second_factor(self, request):
        from django_otp import login as otp_login
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from audit.context import client_ip
        from identity.services.console_login import (
            console_login_attempt,
            console_login_failed,
            console_login_locked_until,
            console_login_passed,
            console_login_succeeded,
            ip_key,
            user_key,
        )

        user, next_url = request.user, self._next_url(request)
        if user.is_verified():
            return HttpResponseRedirect(next_url)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
        if device is None:
            return HttpResponseRedirect(self._step_url("second_factor_enrol", next_url))
        keys = [user_key(user.username), ip_key(client_ip(request))]
        until = console_login_locked_until(keys)
        if until is not None:
            return self._locked(request, until)
        form = TokenForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            until = console_login_attempt(keys)  # counted before the code is checked (see console_login)
            if until is not None:
                return self._locked(request, until)
            if device.verify_token(form.cleaned_data["token"].strip()):
                otp_login(request, device)
                console_login_passed(keys)
                console_login_succeeded(user.username)
                return HttpResponseRedirect(next_url)
            until = console_login_failed(keys)
            if until is not None:
                return self._locked(request, until)
            form.add_error("token", _("That code is not right (or has already been used)."))
        context = {**self.each_context(request), "title": _("Second factor"), "form": form, "next": next_url,
                   "username": user.get_username()}
        return TemplateResponse(request, "admin/console/second_factor.html", context)

    def enrol(self, request):
        from django_otp import login as otp_login
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from audit.context import client_ip
        from audit.services import audit_record
        from console import events
        from identity.services.console_login import (
            console_login_attempt,
            console_login_failed,
            console_login_locked_until,
            console_login_passed,
            console_login_succeeded,
            ip_key,
            user_key,
        )

        user, next_url = request.user, self._next_url(request)
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            return HttpResponseRedirect(self._step_url("second_factor", next_url))
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=str(_("console")), confirmed=False)
        keys = [user_key(user.username), ip_key(client_ip(request))]
        until = console_login_locked_until(keys)
        if until is not None:
            return self._locked(request, until)
        form = TokenForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            until = console_login_attempt(keys)  # counted before the code is checked (see console_login)
            if until is not None:
                return self._locked(request, until)
            if device.verify_token(form.cleaned_data["token"].strip()):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                otp_login(request, device)
                console_login_passed(keys)
                console_login_succeeded(user.username)
                audit_record(events.CONSOLE_SECOND_FACTOR_ENROLLED, action="enrol", target_type="user",
                             target_id=user.pk, actor_id=user.pk, actor_type="admin",
                             metadata={"device": device.persistent_id})
                return HttpResponseRedirect(next_url)
            until = console_login_failed(keys)
            if until is not None:
                return self._locked(request, until)
            form.add_error("token", _("That code is not right: check the phone's clock and try the next one."))
        context = {**self.each_context(request), "title": _("Set up your second factor"), "form": form,
                   "next": next_url, "qr_svg": mark_safe(qr_svg(device.config_url)),  # noqa: S308 - our own SVG
                   "secret": base64.b32encode(device.bin_key).decode().rstrip("="), "config_url": device.config_url}
        return TemplateResponse(request, "admin/console/enrol.html", context)

    # --- the dashboard ----------------------------------------------------------------------------------------

    def index(self, request, extra_context=None):
        from console.dashboard import dashboard

        return super().index(request, {"dashboard": dashboard(request.user), "integrity": integrity_status(),
                                       **(extra_context or {})})


def integrity_status() -> dict:
    """The dashboard's integrity card: the latest ``verify_all`` report (see console.integrity)."""
    from console.integrity import latest_report

    report = latest_report()
    return {"report": report, "failed": [r for r in (report.results if report else []) if not r.get("ok")]}


def qr_svg(text: str) -> str:
    """A QR code as an inline SVG (drawn here, nothing fetched)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


class ConsoleAdminConfig(AdminConfig):
    default_site = "console.site.ConsoleAdminSite"
