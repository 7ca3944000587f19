from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = _("Agents, observer and risk")

    def ready(self) -> None:
        from agents import conf, events, jobs  # noqa: F401 - registers checks, audit event types, job handlers
        from agents.executors import ads as ads_executors
        from agents.executors import billing as billing_executors
        from agents.services import memory
        from agents.services.decisions import CALLBACK, decision_approval_approved, decision_approval_rejected
        from governance.callbacks import register_approval_callback

        jobs.register()
        memory.register()
        ads_executors.register()
        billing_executors.register()
        register_approval_callback(CALLBACK, on_approved=decision_approval_approved,
                                   on_rejected=decision_approval_rejected)
