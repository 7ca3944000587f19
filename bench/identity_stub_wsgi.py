"""The project's WSGI application with the OTP code check stubbed out (always matches).

Only for the bench: the OTP verify endpoint is compared with itself minus the keyed hash and the constant-time
comparison, to show what the check costs.
"""
from prostqs.wsgi import application

__all__ = ["application"]

# Only importable once the line above has set Django up.
from identity.services import otp

otp._code_matches = lambda verification, code: True
