from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Policy, governance and memory")

    def ready(self) -> None:
        # Registers checks, event types, job handlers and integrity verifiers.
        from governance import conf, demo, events, integrity, jobs  # noqa: F401

        # Demo data only (the receiver does nothing unless DEBUG is on and the demo policies are loaded): the demo
        # admin gets its decision authority when `demo_admin` creates it after `seed_demo`.
        post_save.connect(demo.on_user_saved, sender=settings.AUTH_USER_MODEL,
                          dispatch_uid="governance.demo.on_user_saved")
