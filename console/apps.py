from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The governance console, over every app: dashboard, inbox, kill switches, integrity (``verify_all``) and the
    staff roles. The admin site itself is ``console.site.ConsoleAdminSite`` (``ConsoleAdminConfig``)."""

    name = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        from console import events, evidence, roles  # noqa: F401 - the console's audit event types; the roles' receivers below
        from governance.models import DecisionAuthority
        from identity.models import User

        evidence.register_verifiers()  # each table against its audit events, in the integrity registry
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="console.roles.sync_after_migrate")
        post_save.connect(roles.user_saved, sender=User, dispatch_uid="console.roles.user_saved")
        post_save.connect(roles.authority_saved, sender=DecisionAuthority, dispatch_uid="console.roles.authority_saved")
