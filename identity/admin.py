from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from identity.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("__str__", "role", "status", "email", "created_at")
    list_filter = ("role", "status", "groups")
    search_fields = ("id", "username", "email")
    ordering = ("-created_at",)
    readonly_fields = ("id", "created_at", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        (_("Role and status"), {"fields": ("role", "status", "groups", "user_permissions")}),
        (_("Legacy"), {"fields": ("email",)}),
        (_("Dates"), {"fields": ("created_at", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2", "role")}),
    )
    filter_horizontal = ("groups", "user_permissions")
