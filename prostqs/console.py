"""The Django admin, served as the PROST-QS governance console."""
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("PROST-QS governance console")
    site_title = _("PROST-QS governance console")
    index_title = _("Governance dashboard")


class ConsoleAdminConfig(AdminConfig):
    default_site = "prostqs.console.ConsoleAdminSite"
