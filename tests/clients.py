"""The test clients: Django's and DRF's, whose ``force_login`` also passes the console's second factor.

``client.force_login(staff)`` skips the sign-in form, so it skips the console's second factor too: the session is
then marked verified with a confirmed TOTP device. ``force_login(user, verified=False)`` leaves it half signed in
(password only). The ``client``, ``admin_client`` and ``api_client`` fixtures are these; a test that builds its own
client imports it from here. The sign-in flow itself is tested in tests/console/test_login.py.
"""
from __future__ import annotations

from django import test
from rest_framework import test as drf_test


class SecondFactorLogin:
    def force_login(self, user, backend=None, *, verified: bool = True) -> None:
        super().force_login(user, backend)
        if verified and user.is_staff:
            from django_otp import DEVICE_ID_SESSION_KEY
            from django_otp.plugins.otp_totp.models import TOTPDevice

            device = (TOTPDevice.objects.filter(user=user, confirmed=True).first()
                      or TOTPDevice.objects.create(user=user, name="test", confirmed=True))
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()


class Client(SecondFactorLogin, test.Client):
    pass


class APIClient(SecondFactorLogin, drf_test.APIClient):
    pass
