from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class ProstqsConfig(AppConfig):
    """The composition root: commands that know every app (seed_demo, verify_all) and the console's roles."""

    name = "prostqs"
    verbose_name = _("PROST-QS")

    def ready(self) -> None:
        from django.urls import register_converter

        from core.api import TextConverter, read_bodies_before_views, refuse_unknown_fields
        from governance.models import DecisionAuthority
        from identity.models import User
        from prostqs import events, probe, roles  # noqa: F401 - the console's audit event types, the queue probe

        refuse_unknown_fields()
        read_bodies_before_views()
        register_converter(TextConverter, "text")

        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="prostqs.roles.sync_after_migrate")
        post_save.connect(roles.user_saved, sender=User, dispatch_uid="prostqs.roles.user_saved")
        post_save.connect(roles.authority_saved, sender=DecisionAuthority,
                          dispatch_uid="prostqs.roles.authority_saved")
