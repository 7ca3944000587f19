"""The Django admin, served as the PROST-QS governance console."""
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


def integrity_status() -> dict:
    """The dashboard's integrity block: the latest ``verify_all`` report and the kill switches in force."""
    from infrastructure.services.killswitches import killswitches_in_force
    from prostqs.integrity import latest_report

    report = latest_report()
    return {"report": report, "failed": [r for r in (report.results if report else []) if not r.get("ok")],
            "switches": killswitches_in_force()}


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("PROST-QS governance console")
    site_title = _("PROST-QS governance console")
    index_title = _("Governance dashboard")
    index_template = "admin/console_index.html"

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "integrity": integrity_status()}
        return super().index(request, extra_context)


class ConsoleAdminConfig(AdminConfig):
    default_site = "prostqs.console.ConsoleAdminSite"
