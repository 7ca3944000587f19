"""System checks: a production deployment must be able to send sign-in codes, and not into a log or a file."""
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=True)
def otp_sender(app_configs, **kwargs):
    from identity.senders import ConsoleSender, FileSender, get_sender

    try:
        sender = get_sender()
    except (ImproperlyConfigured, ImportError) as exc:
        return [checks.Error(f"OTP_SENDER={settings.OTP_SENDER!r} cannot send sign-in codes: {exc}",
                             hint="Set the OTP_HTTP_* settings of the SMS provider (docs/configuration.md).",
                             id="identity.E001")]
    if isinstance(sender, ConsoleSender | FileSender):  # by name or by dotted path
        where = "standard output" if isinstance(sender, ConsoleSender) else "a file"
        return [checks.Warning(f"OTP_SENDER={settings.OTP_SENDER!r} writes sign-in codes in clear to {where} "
                               "instead of sending them.", hint="Use OTP_SENDER=http in production.",
                               id="identity.W001")]
    return []
