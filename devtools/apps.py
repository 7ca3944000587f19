from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.models.signals import post_save


class DevtoolsConfig(AppConfig):
    """Development and test tooling over every app: the world of ``build_tenant``, the randomized workload, the API
    fuzzer, and the demo's wiring. Installed with DEBUG on (``make run``, the tests) or where a tool's own process
    sets ``DEVTOOLS=true`` (the workload and fuzzer of ``tools/prod_run.py``); production settings never install it.
    """

    name = "devtools"
    verbose_name = "Development tools"

    def ready(self) -> None:
        from governance import demo

        # The demo admin gets its decision authority when it is created after `seed_demo` (``make run`` seeds
        # first, then `demo_admin` creates it); the receiver does nothing unless DEBUG is on and the demo
        # policies are loaded.
        post_save.connect(demo.on_user_saved, sender=settings.AUTH_USER_MODEL,
                          dispatch_uid="governance.demo.on_user_saved")
        checks.register(not_serving, checks.Tags.security, deploy=True)


def not_serving(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A deployment that serves requests has no business with the tooling: a workload or fuzzer process, set up on
    its own with ``DEVTOOLS=true``, is the only production-shaped place for it."""
    if settings.DEBUG:
        return []
    return [checks.Warning("devtools is installed with DEBUG off: the demo's wiring and the test tooling are "
                           "loaded.", hint="Leave DEVTOOLS unset where the project serves requests.",
                           id="devtools.W001")]
