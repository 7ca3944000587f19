"""Audit event types of the identity app. Codes, tokens and secrets never go into an event."""
from audit.events import register

OTP_STARTED = register("OTP_STARTED", "A phone verification was started and its code queued for sending.")
OTP_SENT = register("OTP_SENT", "A verification code was handed to the sender backend.")
OTP_VERIFIED = register("OTP_VERIFIED", "A verification code was entered correctly.")
OTP_FAILED = register("OTP_FAILED", "A wrong verification code was entered.")
OTP_BURNED = register("OTP_BURNED", "A verification was burned after too many wrong codes.")
RATE_LIMIT_BLOCKED = register("RATE_LIMIT_BLOCKED", "A phone, IP address or number prefix reached a limit.")
RATE_LIMIT_CLEARED = register("RATE_LIMIT_CLEARED", "An administrator cleared a rate-limit block.")
IDENTITY_CREATED = register("IDENTITY_CREATED", "A user was created with their phone identity.")
PHONE_VERIFIED = register("PHONE_VERIFIED", "A user's phone authentication method became verified.")
PROFILE_UPDATED = register("PROFILE_UPDATED", "A user changed their profile.")
IDENTITY_LINKED = register("IDENTITY_LINKED", "A provider identity was linked to a user.")
USER_STATUS_CHANGED = register("USER_STATUS_CHANGED", "A user was suspended, banned or reactivated.")
SESSION_OPENED = register("SESSION_OPENED", "A user session was opened.")
SESSION_REVOKED = register("SESSION_REVOKED", "A user session was ended.")
SIGN_IN_REFUSED = register("SIGN_IN_REFUSED", "A correct code was entered for a user who may not sign in.")
APP_CREATED = register("APP_CREATED", "An application was created.")
APP_STATUS_CHANGED = register("APP_STATUS_CHANGED", "An application was suspended, reactivated or deleted.")
APP_CREDENTIAL_ISSUED = register("APP_CREDENTIAL_ISSUED", "An application credential was issued.")
APP_CREDENTIAL_REVOKED = register("APP_CREDENTIAL_REVOKED", "An application credential was revoked.")
APP_CREDENTIAL_SUSPENDED = register("APP_CREDENTIAL_SUSPENDED",
                                    "An application credential was suspended with its tenant's owner.")
APP_CREDENTIAL_RESTORED = register("APP_CREDENTIAL_RESTORED",
                                   "A credential suspended with its tenant's owner works again (owner reactivated).")
APP_USER_LINKED = register("APP_USER_LINKED", "An application linked one of its users.")
APP_USER_PROOF_STARTED = register("APP_USER_PROOF_STARTED",
                                  "An application asked one of its users to prove they hold the identity.")
APP_USER_PROVEN = register("APP_USER_PROVEN", "A person proved, through an application, that they hold the identity: "
                                              "the application may act on them.")
APP_SESSION_OPENED = register("APP_SESSION_OPENED", "An application opened a session for one of its users.")
APP_SESSION_REVOKED = register("APP_SESSION_REVOKED", "An application session was ended.")
APP_WEBHOOK_DELIVERED = register("APP_WEBHOOK_DELIVERED", "An event was delivered to an application's webhook URL.")
CONSOLE_LOGIN_LOCKED = register("CONSOLE_LOGIN_LOCKED",
                                "Too many failed console sign-ins: a username or an address is locked out for a while.")
