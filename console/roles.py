"""Console roles: four Django groups and the model permissions each one holds (docs/domains/console.md, "Roles").

The groups are created by a migration (``prostqs/migrations``); their permissions are recomputed from
``ROLE_ACCESS`` after every ``migrate`` (post_migrate), so models added later get their permissions without a new
migration. People get the group of their role: the ``super_admin`` user role, else the roles of their decision
authorities in force (``tech_lead``, ``finance_officer``, ``super_admin``), else ``admin`` for any other staff.
Membership follows every save of the user and of their decision authorities.

Nobody holds add, change or delete on append-only tables: those are left out of every group, and their console
pages are read-only for everyone (``core.admin``).
"""
from __future__ import annotations

from django.apps import apps as global_apps
from django.db import transaction

SUPER_ADMIN = "super_admin"
TECH_LEAD = "tech_lead"
FINANCE_OFFICER = "finance_officer"
ADMIN = "admin"
ROLES = (SUPER_ADMIN, TECH_LEAD, FINANCE_OFFICER, ADMIN)

VIEW = "view"  # view_* only
CHANGE = "change"  # view_*, add_*, change_* and the model's own permissions (adjust, export, approve, decide...)
ALL = "all"  # every permission, delete included

# app label, or "app_label.model_name" (wins over its app). Anything not named is out of reach for the role.
ROLE_ACCESS: dict[str, dict[str, str]] = {
    SUPER_ADMIN: {"*": ALL},
    TECH_LEAD: {
        "identity": CHANGE, "identity.user": VIEW, "infrastructure": CHANGE, "governance": CHANGE, "memory": CHANGE,
        "agents": CHANGE, "ads": CHANGE, "audit": VIEW, "billing": VIEW,
    },
    FINANCE_OFFICER: {
        "billing": CHANGE, "ads": VIEW, "audit": VIEW, "identity": VIEW,
        "governance.approvalrequest": VIEW, "governance.approvaldecision": VIEW,
        "governance.decisionauthority": VIEW,
    },
    ADMIN: {
        "identity": CHANGE, "identity.user": VIEW, "infrastructure": CHANGE, "ads": CHANGE,
        "agents": VIEW, "governance": VIEW, "memory": VIEW, "billing": VIEW, "audit": VIEW,
    },
}

_DEFAULT_ACTIONS = ("add", "change", "delete", "view")


def role_level(role: str, app_label: str, model_name: str) -> str | None:
    access = ROLE_ACCESS[role]
    return access.get(f"{app_label}.{model_name}") or access.get(app_label) or access.get("*")


def _append_only(model) -> bool:
    from audit.immutable import AppendOnlyModel

    return model is not None and issubclass(model, AppendOnlyModel)


def role_grants(role: str, app_label: str, model_name: str, codename: str, *, model=None) -> bool:
    """Whether ``role``'s group holds the permission ``app_label.codename`` on ``model_name``."""
    level = role_level(role, app_label, model_name)
    if level is None:
        return False
    action = codename.split("_", 1)[0] if codename.endswith(f"_{model_name}") else None
    if action in _DEFAULT_ACTIONS and action != "view" and _append_only(model):
        return False  # append-only: seen, never written, by anyone
    if level == ALL:
        return True
    if action == "view":
        return True
    if level == VIEW:
        return False
    return action != "delete"  # CHANGE: add, change and the model's own permissions


def sync_group_permissions(using: str = "default") -> None:
    """Create the role groups if missing and set each one's permissions from ``ROLE_ACCESS``."""
    from django.contrib.auth.models import Group, Permission

    perms = list(Permission.objects.using(using).select_related("content_type"))
    with transaction.atomic(using=using):
        for role in ROLES:
            group, _ = Group.objects.using(using).get_or_create(name=role)
            wanted = []
            for perm in perms:
                ct = perm.content_type
                model = global_apps.all_models.get(ct.app_label, {}).get(ct.model)
                if role_grants(role, ct.app_label, ct.model, perm.codename, model=model):
                    wanted.append(perm)
            group.permissions.set(wanted)


def sync_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate handler: runs once per migrate, after the last app's permissions exist."""
    last = [cfg for cfg in global_apps.get_app_configs() if cfg.models_module is not None][-1]
    if sender.label == last.label:
        sync_group_permissions(using=using)


def roles_for(user) -> set[str]:
    """The console groups ``user`` belongs in."""
    if not user.is_staff:
        return set()
    from governance.models import DecisionAuthority

    wanted = {SUPER_ADMIN} if user.role == SUPER_ADMIN else set()
    wanted |= set(DecisionAuthority.objects.in_force().filter(user=user).values_list("role", flat=True))
    wanted &= set(ROLES)
    return wanted or {ADMIN}


def sync_user_groups(user) -> None:
    from django.contrib.auth.models import Group

    wanted = roles_for(user)
    current = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if wanted == current:
        return
    if current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    if wanted - current:
        missing = wanted - set(Group.objects.filter(name__in=wanted).values_list("name", flat=True))
        for name in missing:  # a flushed test database loses the migration's rows
            Group.objects.get_or_create(name=name)
        user.groups.add(*Group.objects.filter(name__in=wanted - current))


def user_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if raw:
        return
    if created and not instance.is_staff:
        return  # a new phone user: no console, no groups (the sign-in path stays one INSERT)
    if update_fields is not None and "role" not in update_fields and "status" not in update_fields:
        return
    sync_user_groups(instance)


def authority_saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        sync_user_groups(instance.user)
