"""Audit event types of the console's second factor."""
from audit.events import register

CONSOLE_SECOND_FACTOR_ENROLLED = register("CONSOLE_SECOND_FACTOR_ENROLLED",
                                          "A staff member enrolled a TOTP device for the console.")
