"""``python manage.py db_roles --owner prostqs_owner --app prostqs_app``: create or update the owner role (owns the
schema, runs migrations) and the application role (no UPDATE, DELETE or TRUNCATE on append-only tables, owns
nothing, not a superuser). PostgreSQL only; run it as a superuser against the application's database."""
from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from prostqs.dbroles import DbRolesError, db_role_audit, db_roles_apply


class Command(BaseCommand):
    help = ("Create or update the PostgreSQL owner role (owns the database and every object, runs migrations) and "
            "the application role (SELECT/INSERT/UPDATE/DELETE, but only SELECT/INSERT on append-only tables; owns "
            "nothing; not a superuser). Idempotent. Run as a superuser, with DATABASE_URL naming the application's "
            "database.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", help="the owner role (migrations log in as it)")
        parser.add_argument("--app", required=True, help="the application role (gunicorn, Celery, commands)")
        parser.add_argument("--owner-password-env", metavar="VAR",
                            help="set the owner role's password from this environment variable")
        parser.add_argument("--app-password-env", metavar="VAR",
                            help="set the application role's password from this environment variable")
        parser.add_argument("--check", action="store_true",
                            help="change nothing: check that the application role holds no more than it should "
                                 "(any role may run this, the application role itself included)")

    def _password(self, variable: str | None) -> str | None:
        if not variable:
            return None
        value = os.environ.get(variable)
        if not value:
            raise CommandError(f"the environment variable {variable} is empty or not set", returncode=2)
        return value

    def handle(self, *args, **options) -> None:
        if options["check"]:
            self._check(options["app"])
            return
        if not options["owner"]:
            raise CommandError("--owner is required (unless --check)", returncode=2)
        try:
            report = db_roles_apply(owner=options["owner"], app=options["app"],
                                    owner_password=self._password(options["owner_password_env"]),
                                    app_password=self._password(options["app_password_env"]))
            audit = db_role_audit(options["app"])
        except DbRolesError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for line in report.lines():
            self.stdout.write(line)
        self._report(options["app"], audit)

    def _check(self, app: str) -> None:
        try:
            audit = db_role_audit(app)
        except DbRolesError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self._report(app, audit)

    def _report(self, app: str, audit) -> None:
        if not audit.ok:
            raise CommandError(f"the application role {app} holds too much: {audit}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{app} checked: no superuser rights, owns nothing, member of no role, "
                                             "no UPDATE/DELETE/TRUNCATE on append-only tables, no TRUNCATE "
                                             "anywhere"))
