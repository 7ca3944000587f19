"""Audit event types of the infrastructure app (imported from ``InfrastructureConfig.ready()``).

Routine queue traffic (claim, done, retry after a failure) is recorded on the job row itself (attempts,
``last_error``, ``finished_at``): one audit event per job would drown the log. What is audited is every change an
operator makes, every change of a secret or a kill switch, and the queue's exceptional transitions.
"""
from audit.events import register

JOB_RETRIED = register("JOB_RETRIED", "An operator made a scheduled job due now.")
JOB_CANCELLED = register("JOB_CANCELLED", "An operator cancelled a pending job.")
JOB_DEAD_LETTERED = register("JOB_DEAD_LETTERED", "A job exhausted its attempts and moved to the dead letters.")
JOB_REQUEUED = register("JOB_REQUEUED", "A dead-lettered job was requeued as a new job.")
JOBS_LEASES_REAPED = register("JOBS_LEASES_REAPED", "Jobs whose worker stopped renewing its lease were reclaimed.")

SECRET_CREATED = register("SECRET_CREATED", "A secret's first version was stored.")
SECRET_ROTATED = register("SECRET_ROTATED", "A new version of a secret replaced the active one.")
SECRET_REVOKED = register("SECRET_REVOKED", "Versions of a secret were revoked.")
SECRETS_REWRAPPED = register("SECRETS_REWRAPPED", "Secrets were re-encrypted under the newest master key.")

KILL_SWITCH_ACTIVATED = register("KILL_SWITCH_ACTIVATED", "A kill switch was activated.")
KILL_SWITCH_DEACTIVATED = register("KILL_SWITCH_DEACTIVATED", "A kill switch was deactivated.")
KILL_SWITCH_EXPIRED = register("KILL_SWITCH_EXPIRED", "A kill switch reached its expiry and was switched off.")

INTEGRITY_CHECK_PASSED = register("INTEGRITY_CHECK_PASSED", "verify_all ran every integrity verifier and all held.")
INTEGRITY_CHECK_FAILED = register("INTEGRITY_CHECK_FAILED", "verify_all found an integrity problem.")

STAFF_LOCK_SET = register("STAFF_LOCK_SET", "Staff locked an object's status or limit against the tenant's API.")
STAFF_LOCK_LIFTED = register("STAFF_LOCK_LIFTED",
                             "A staff lock was lifted (by staff, or with the cascade that set it).")
STAFF_LOCK_REFUSED = register("STAFF_LOCK_REFUSED",
                              "A tenant tried to undo what a staff lock holds: refused, nothing written.")
