"""People: the user model (table ``users``), the phone identity, profile, sign-in methods and provider links."""
from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from identity.history import history_user


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, username: str | None = None, password: str | None = None, **extra):
        user = self.model(username=username or None, **extra)
        if extra.get("email"):
            user.email = self.normalize_email(extra["email"])
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra):
        extra["role"] = User.Role.SUPER_ADMIN
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Phone users have no username or password; console staff log in with both.

    ``role`` is the catalog's coarse role: ``admin`` and ``super_admin`` reach the console
    (``is_staff``), ``super_admin`` holds every permission (``is_superuser``). Finer console roles
    (tech lead, finance officer) are Django groups.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        BANNED = "banned", _("banned")

    class Role(models.TextChoices):
        USER = "user", _("user")
        ADMIN = "admin", _("admin")
        SUPER_ADMIN = "super_admin", _("super admin")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.USER)
    username = models.CharField(_("username"), max_length=150, unique=True, null=True, blank=True)
    email = models.EmailField(_("email"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    objects = UserManager()
    # The password hash and the login time stay out of the history: one is a secret, the other is noise.
    history = HistoricalRecords(get_user=history_user, excluded_fields=["password", "last_login"])

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.username or str(self.id)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.status == self.Status.ACTIVE

    @property
    def is_staff(self) -> bool:
        return self.role in (self.Role.ADMIN, self.Role.SUPER_ADMIN)

    # A property of the same name hides PermissionsMixin's column: the role is stored once.
    @property
    def is_superuser(self) -> bool:
        return self.role == self.Role.SUPER_ADMIN


class SovereignIdentity(models.Model):
    """The phone number that *is* the person's identity (one per user, one user per phone)."""

    class Source(models.TextChoices):
        OTP = "otp", _("phone sign-in")
        APP = "app", _("linked by an application")
        ADMIN = "admin", _("console")

    user = models.OneToOneField(User, on_delete=models.PROTECT, primary_key=True, db_column="user_id",
                                related_name="sovereign_identity", verbose_name=_("user"))
    primary_phone = models.CharField(_("primary phone"), max_length=20, unique=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.OTP)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "sovereign_identities"
        verbose_name = _("sovereign identity")
        verbose_name_plural = _("sovereign identities")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.primary_phone


class UserProfile(models.Model):
    """The human details a user chooses to give."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, db_column="user_id", related_name="profile",
                                verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    avatar_url = models.URLField(_("avatar URL"), max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "user_profiles"
        verbose_name = _("user profile")
        verbose_name_plural = _("user profiles")

    def __str__(self) -> str:
        return self.name or str(self.user_id)


class AuthMethod(models.Model):
    """A way a user proves who they are; ``identifier`` (a phone or an address) belongs to one user."""

    class Type(models.TextChoices):
        PHONE = "phone", _("phone")
        GOOGLE = "google", _("Google")
        APPLE = "apple", _("Apple")
        EMAIL = "email", _("email")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, db_column="user_id", related_name="auth_methods",
                             verbose_name=_("user"))
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    identifier = models.CharField(_("identifier"), max_length=255, unique=True)
    verified = models.BooleanField(_("verified"), default=False)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "auth_methods"
        verbose_name = _("authentication method")
        verbose_name_plural = _("authentication methods")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type}: {self.identifier}"


class IdentityLink(models.Model):
    """A provider account (Google, Apple, ...) linked to a user; one provider id belongs to one user."""

    class Provider(models.TextChoices):
        GOOGLE = "google", _("Google")
        APPLE = "apple", _("Apple")
        FACEBOOK = "facebook", _("Facebook")
        MICROSOFT = "microsoft", _("Microsoft")
        GITHUB = "github", _("GitHub")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, db_column="user_id", related_name="identity_links",
                             verbose_name=_("user"))
    provider = models.CharField(_("provider"), max_length=32, choices=Provider.choices)
    provider_id = models.CharField(_("provider id"), max_length=255)
    # The application that asserted the link (empty when made in the console).
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            db_column="app_id", related_name="identity_links", verbose_name=_("application"))
    linked_at = models.DateTimeField(_("linked at"), default=timezone.now, editable=False)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "identity_links"
        verbose_name = _("identity link")
        verbose_name_plural = _("identity links")
        ordering = ["-linked_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_id"], name="uniq_identity_link_provider_id"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.provider_id}"
