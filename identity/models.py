"""Identity models. ``User`` is the custom user model (table ``users``)."""
from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
