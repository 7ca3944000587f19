"""System checks: a production deployment must be able to send sign-in codes, and not into a log or a file."""
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=True)
def otp_sender(app_configs, **kwargs):
    from identity.senders import get_sender

    try:
        get_sender()
    except (ImproperlyConfigured, ImportError) as exc:
        return [checks.Error(f"OTP_SENDER={settings.OTP_SENDER!r} cannot send sign-in codes: {exc}",
                             hint="Set the OTP_HTTP_* settings of the SMS provider (README, configuration).",
                             id="identity.E001")]
    if settings.OTP_SENDER in ("console", "file"):
        return [checks.Warning(f"OTP_SENDER={settings.OTP_SENDER!r} writes sign-in codes in clear to "
                               f"{'standard output' if settings.OTP_SENDER == 'console' else 'a file'} instead of "
                               "sending them.", hint="Use OTP_SENDER=http in production.", id="identity.W001")]
    return []
