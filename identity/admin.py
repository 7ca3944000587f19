"""The console for identities, sessions, verifications, rate-limit blocks and applications.

Changes go through the services (so they are audited and end sessions where they must): admin actions, and the
add forms of applications and credentials. Codes, token hashes and secret hashes are never shown.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from core.admin import ReadOnlyAdmin, ReadOnlyHistoryAdmin
from core.errors import ServiceError
from identity.models import (
    BLOCKED_UNTIL_CLEARED,
    AppCredential,
    Application,
    AppSession,
    AppUser,
    AuthMethod,
    IdentityLink,
    PendingVerification,
    RateLimitEntry,
    Scope,
    SovereignIdentity,
    SovereignSession,
    User,
    UserProfile,
)
from identity.services.apps import app_create, app_session_revoke, app_user_attest, credential_issue, credential_revoke
from identity.services.containment import app_staff_reactivate, app_staff_suspend
from identity.services.otp import rate_limit_clear
from identity.services.sessions import session_revoke, user_set_status
from identity.services.webhooks import app_webhook_secret_rotate, webhook_secret_generate, webhook_url_problem
from infrastructure.admin import staff_locks_html


def _reason(request, what: str) -> str:
    return f"{what} in the console by {request.user}"


def _copy_into(target, source) -> None:
    """Make the admin's unsaved form instance the row a service created (the admin then links to it)."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, BaseUserAdmin):
    list_display = ("__str__", "role", "status", "email", "created_at")
    list_filter = ("role", "status", "groups")
    search_fields = ("id", "username", "email", "sovereign_identity__primary_phone")
    ordering = ("-created_at",)
    # Status changes go through the actions, which end the user's sessions, contain the tenant they own and write
    # the audit events.
    readonly_fields = ("id", "status", "staff_locks", "created_at", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        (_("Role and status"), {"fields": ("role", "status", "staff_locks", "groups", "user_permissions")}),
        (_("Legacy"), {"fields": ("email",)}),
        (_("Dates"), {"fields": ("created_at", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2", "role")}),
    )
    filter_horizontal = ("groups", "user_permissions")
    actions = ("suspend", "ban", "reactivate")

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        return staff_locks_html(obj)

    def _set_status(self, request, queryset, status: str) -> None:
        for user in queryset:
            user_set_status(user=user, status=status, reason=_reason(request, status), actor=request.user)
        self.message_user(request, _("%(n)d user(s) now %(status)s.") % {"n": queryset.count(), "status": status})

    @admin.action(description=_("Suspend (ends all their sessions; suspends the apps and keys they own)"),
                  permissions=["change"])
    def suspend(self, request, queryset):
        self._set_status(request, queryset, User.Status.SUSPENDED)

    @admin.action(description=_("Ban (ends all their sessions; suspends the apps and keys they own)"),
                  permissions=["change"])
    def ban(self, request, queryset):
        self._set_status(request, queryset, User.Status.BANNED)

    @admin.action(description=_("Reactivate"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._set_status(request, queryset, User.Status.ACTIVE)


@admin.register(SovereignIdentity)
class SovereignIdentityAdmin(ReadOnlyHistoryAdmin):
    list_display = ("primary_phone", "user", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("primary_phone", "user__id")
    list_select_related = ("user",)


@admin.register(UserProfile)
class UserProfileAdmin(ReadOnlyHistoryAdmin):
    list_display = ("user", "name", "email", "updated_at")
    search_fields = ("name", "email", "user__id")


@admin.register(AuthMethod)
class AuthMethodAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "type", "verified", "user", "created_at")
    list_filter = ("type", "verified")
    search_fields = ("identifier", "user__id")


@admin.register(IdentityLink)
class IdentityLinkAdmin(ReadOnlyHistoryAdmin):
    list_display = ("provider", "provider_id", "user", "app", "linked_at")
    list_filter = ("provider",)
    search_fields = ("provider_id", "user__id")


@admin.register(SovereignSession)
class SovereignSessionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("session_id", "user", "device_fingerprint", "ip_address", "is_active", "created_at",
                    "expires_at", "revoked_reason")
    list_filter = ("is_active",)
    search_fields = ("session_id", "user__id", "device_fingerprint", "ip_address")
    exclude = ("token_hash",)
    actions = ("revoke",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("identity.change_sovereignsession")

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke(self, request, queryset):
        for session in queryset.filter(is_active=True):
            session_revoke(session=session, reason="revoked in the console")
        self.message_user(request, _("Sessions revoked."))


@admin.register(PendingVerification)
class PendingVerificationAdmin(ReadOnlyAdmin):
    list_display = ("phone_number", "channel", "status", "attempts", "delivery_status", "created_at", "expires_at")
    list_filter = ("status", "channel", "delivery_status")
    search_fields = ("phone_number", "verification_id")
    exclude = ("code_hash",)


class BlockedFilter(admin.SimpleListFilter):
    title = _("blocked")
    parameter_name = "blocked"

    def lookups(self, request, model_admin):
        return [("now", _("blocked now")), ("admin", _("until cleared"))]

    def queryset(self, request, queryset):
        from django.utils import timezone

        if self.value() == "now":
            return queryset.filter(blocked_until__gt=timezone.now())
        if self.value() == "admin":
            return queryset.filter(blocked_until__gte=BLOCKED_UNTIL_CLEARED)
        return queryset


@admin.register(RateLimitEntry)
class RateLimitEntryAdmin(ReadOnlyAdmin):
    list_display = ("key", "action", "attempt_count", "window_started_at", "blocked_until", "blocked_reason")
    list_filter = (BlockedFilter, "action", "blocked_reason")
    search_fields = ("key",)
    actions = ("unblock",)

    def has_unblock_permission(self, request) -> bool:
        return request.user.has_perm("identity.change_ratelimitentry")

    @admin.action(description=_("Unblock (clear the counter)"), permissions=["unblock"])
    def unblock(self, request, queryset):
        for entry in queryset:
            rate_limit_clear(entry=entry, reason=_reason(request, "unblocked"))
        self.message_user(request, _("%(n)d entr(ies) cleared.") % {"n": queryset.count()})


class CredentialInline(admin.TabularInline):
    model = AppCredential
    fields = ("name", "public_key", "scopes", "status", "created_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def secrets_once_page(modeladmin: admin.ModelAdmin, request, *, title: str, secrets: list[dict], next_url: str,
                      popup_response_data: str | None = None) -> TemplateResponse:
    """A page showing new secrets (``{"owner", "label", "value"}``) this once: rendered into the response only,
    never into a flash message (those travel in a cookie or the session store), and never cached. In a related-
    object popup, its "continue" hands the new object to the opener (``popup_response_data``, Django's)."""
    context = {**modeladmin.admin_site.each_context(request), "opts": modeladmin.model._meta, "title": title,
               "secrets": secrets, "next_url": next_url, "popup_response_data": popup_response_data}
    response = TemplateResponse(request, "admin/identity/secrets_once.html", context)
    add_never_cache_headers(response)
    return response


def added_with_secrets(modeladmin: admin.ModelAdmin, request, obj, added, *, title: str) -> TemplateResponse:
    """Instead of the admin's answer to an add (``added``: a redirect, or the popup's closing page), the page
    showing ``obj._new_secrets``; its "continue" goes where the admin would have gone."""
    popup = (getattr(added, "context_data", None) or {}).get("popup_response_data")
    return secrets_once_page(modeladmin, request, title=title, secrets=obj._new_secrets,
                             next_url=added.get("Location") or _change_url(obj), popup_response_data=popup)


class ServiceRefusalsAsMessages:
    """An add form that passed validation can still be refused by its service (another change won a race since):
    the refusal is shown on the add page again instead of a server error, and nothing is saved (the admin's
    transaction is rolled back)."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            details = [m for problems in exc.fields.values() for m in problems if str(m) != str(exc.message)]
            self.message_user(request, " ".join([str(exc.message), *map(str, details)]), messages.ERROR)
            # What was typed is not kept: the add page opens empty again, with the refusal above it.
            return HttpResponseRedirect(request.get_full_path())


class ApplicationAddForm(forms.ModelForm):
    slug = forms.SlugField(required=False, label=_("slug"), help_text=_("Made from the name when left empty."))
    webhook_url = forms.URLField(required=False, assume_scheme="https", label=_("webhook URL"))

    class Meta:
        model = Application
        fields = ("name", "slug", "owner", "webhook_url")

    def clean_slug(self) -> str:
        """The slug as ``app_create`` stores it (lower case), so that the model's uniqueness check sees it."""
        given = self.cleaned_data.get("slug") or ""
        slug = slugify(given)
        if given and not slug:
            raise forms.ValidationError(_("Use letters, numbers, hyphens or underscores."))
        return slug

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data.get("webhook_url") or ""
        problem = webhook_url_problem(url) if url else None
        if problem:
            raise forms.ValidationError(problem)
        return url


@admin.register(Application)
class ApplicationAdmin(ServiceRefusalsAsMessages, SimpleHistoryAdmin):
    list_display = ("name", "slug", "owner", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "slug", "owner__id")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    inlines = (CredentialInline,)
    actions = ("suspend", "reactivate", "rotate_webhook_secret")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApplicationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("name", "slug", "owner", "webhook_url") if obj is None else (
            "id", "name", "slug", "owner", "status", "staff_locks", "webhook_url", "created_at", "updated_at")

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        return staff_locks_html(obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        secret = webhook_secret_generate()
        created = app_create(owner=form.cleaned_data["owner"], name=form.cleaned_data["name"],
                             slug=form.cleaned_data["slug"], webhook_url=form.cleaned_data["webhook_url"],
                             webhook_secret=secret)
        _copy_into(obj, created)
        obj._new_secrets = [{"owner": obj, "label": _("webhook signing secret (give it to the app's owner)"),
                             "value": secret}]

    def response_add(self, request, obj, post_url_continue=None):
        added = super().response_add(request, obj, post_url_continue)
        return added_with_secrets(self, request, obj, added, title=_("Application created"))

    def _set_status(self, request, queryset, service, status: str) -> None:
        for app in queryset:
            try:
                service(app=app, reason=_reason(request, status), actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{app}: {exc.message}", messages.ERROR)
        self.message_user(request, _("Applications updated."))

    @admin.action(description=_("Suspend (credentials stop working at once; locked against the owner)"),
                  permissions=["change"])
    def suspend(self, request, queryset):
        self._set_status(request, queryset, app_staff_suspend, Application.Status.SUSPENDED)

    @admin.action(description=_("Reactivate"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._set_status(request, queryset, app_staff_reactivate, Application.Status.ACTIVE)

    @admin.action(description=_("Rotate the webhook signing secret (the previous one signs for a grace period)"),
                  permissions=["change"])
    def rotate_webhook_secret(self, request, queryset):
        rows = []
        for app in queryset:
            try:
                secret = app_webhook_secret_rotate(app=app)
            except ServiceError as exc:
                self.message_user(request, f"{app}: {exc.message}", messages.ERROR)
                continue
            rows.append({"owner": app, "label": _("new webhook signing secret"), "value": secret})
        if not rows:
            return None
        return secrets_once_page(self, request, title=_("Webhook signing secrets rotated"), secrets=rows,
                                 next_url=request.get_full_path())


class CredentialAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       label=_("scopes"))

    class Meta:
        model = AppCredential
        fields = ("app", "name", "scopes")

    def clean_app(self) -> Application:
        app = self.cleaned_data["app"]
        if app.status == Application.Status.DELETED:
            raise forms.ValidationError(_("A deleted application gets no credentials."))
        return app


@admin.register(AppCredential)
class AppCredentialAdmin(ServiceRefusalsAsMessages, SimpleHistoryAdmin):
    list_display = ("name", "app", "public_key", "scopes", "status", "created_at", "revoked_at")
    list_filter = ("status",)
    search_fields = ("public_key", "name", "app__name", "app__slug")
    list_select_related = ("app",)
    raw_id_fields = ("app",)
    actions = ("revoke",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CredentialAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("app", "name", "scopes") if obj is None else (
            "id", "app", "name", "public_key", "scopes", "status", "staff_locks", "created_by", "created_at",
            "revoked_at")

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        return staff_locks_html(obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        issued = credential_issue(app=form.cleaned_data["app"], name=form.cleaned_data["name"],
                                  scopes=form.cleaned_data["scopes"], created_by=request.user)
        _copy_into(obj, issued.credential)
        obj._new_secrets = [{"owner": obj, "label": _("public key"), "value": issued.credential.public_key},
                            {"owner": obj, "label": _("secret"), "value": issued.secret}]

    def response_add(self, request, obj, post_url_continue=None):
        added = super().response_add(request, obj, post_url_continue)
        return added_with_secrets(self, request, obj, added, title=_("Credential issued"))

    @admin.action(description=_("Revoke selected credentials"), permissions=["change"])
    def revoke(self, request, queryset):
        for credential in queryset.exclude(status=AppCredential.Status.REVOKED):
            credential_revoke(credential=credential, reason=_reason(request, "revoked"))
        self.message_user(request, _("Credentials revoked."))


class ProvenFilter(admin.SimpleListFilter):
    title = _("proven")
    parameter_name = "proven"

    def lookups(self, request, model_admin):
        return (("yes", _("proven")), ("no", _("claim only")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(verified_at__isnull=True)
        return queryset


@admin.register(AppUser)
class AppUserAdmin(ReadOnlyHistoryAdmin):
    list_display = ("external_user_id", "app", "user", "status", "verified_at", "created_at")
    list_filter = ("status", ProvenFilter)
    search_fields = ("external_user_id", "user__id", "app__slug")
    list_select_related = ("app", "user")
    actions = ("attest",)

    def has_attest_permission(self, request) -> bool:
        return request.user.has_perm("identity.change_appuser")

    @admin.action(description=_("Mark proven: the person's identity was checked by staff"), permissions=["attest"])
    def attest(self, request, queryset):
        for app_user in queryset.filter(verified_at__isnull=True):
            app_user_attest(app_user=app_user, actor=request.user,
                            reason=_reason(request, "identity checked by staff"))
        self.message_user(request, _("The selected links are proven: their applications may act on these people."))


@admin.register(AppSession)
class AppSessionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "app", "app_user", "ip_address", "status", "created_at", "expires_at")
    list_filter = ("status",)
    search_fields = ("id", "user__id", "ip_address")
    list_select_related = ("app", "app_user")
    actions = ("revoke",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("identity.change_appsession")

    @admin.action(description=_("Revoke selected app sessions"), permissions=["revoke"])
    def revoke(self, request, queryset):
        for session in queryset.filter(status=AppSession.Status.ACTIVE):
            app_session_revoke(session=session, reason="revoked in the console")
        self.message_user(request, _("App sessions revoked."))
