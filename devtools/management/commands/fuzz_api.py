"""``python manage.py fuzz_api --url http://127.0.0.1:8000``: schemathesis against the live schema.

Builds a tenant with one of everything (``devtools.world``) in the server's database, then for every operation of
``/api/schema/`` generates requests (valid and invalid bodies, query strings and path parameters, half of them
with the tenant's real ids in the path) sent with the credential the operation needs: an app credential holding
only the operation's scope, or a person's session token. Every answer is checked: no 5xx; every error in the
project's JSON shape; status codes, content types, headers and bodies as the schema documents them. Prints the
figures; exit 1 on any failure.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import Resolver404, resolve

from devtools.world import build_tenant

# Path parameter name → the world's attribute (per path prefix when the name is ambiguous).
PATH_IDS = {
    "session_id": lambda t, path: t.app_session_id if path.startswith("/api/v1/app/") else t.owner_session_id,
    "app_id": lambda t, path: t.app_id, "credential_id": lambda t, path: t.credential_id,
    "external_user_id": lambda t, path: t.external_user_id, "request_id": lambda t, path: t.approval_request_id,
    "account_id": lambda t, path: t.ad_account_id if path.startswith("/api/v1/ads/") else t.billing_account_id,
    "intent_id": lambda t, path: t.intent_id, "payout_id": lambda t, path: t.payout_id,
    "subscription_id": lambda t, path: t.subscription_id, "budget_id": lambda t, path: t.budget_id,
    "campaign_id": lambda t, path: t.campaign_id, "agent_id": lambda t, path: t.agent_id,
    "domain": lambda t, path: "ads", "decision_id": lambda t, path: t.decision_id,
    "suggestion_id": lambda t, path: t.suggestion_id,
}
# Operations that end the caller's own session or credential would lock the fuzzer out of the rest of the run.
SKIP = {("POST", "/api/v1/identity/logout"), ("DELETE", "/api/v1/identity/sessions/{session_id}"),
        ("DELETE", "/api/v1/apps/{app_id}/credentials/{credential_id}")}


def _requirement(path: str) -> str:
    from identity.permissions import IsSignedInUser

    probe = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
    try:
        match = resolve(probe)
    except Resolver404:
        return "public"
    cls = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    scopes = [p.required_scope for p in getattr(cls, "permission_classes", []) if getattr(p, "required_scope", None)]
    if scopes:
        return scopes[0]
    if IsSignedInUser in getattr(cls, "permission_classes", []):
        return "user"
    return "public"


class Command(BaseCommand):
    help = "Fuzz the live API with schemathesis, with valid credentials for every scope (see the module docstring)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", required=True, help="the server's root, e.g. http://127.0.0.1:8000")
        parser.add_argument("--examples", type=int, default=25, help="generated requests per operation and mode")
        parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (the same seed, the same run)")
        parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")

    def handle(self, *args, **options) -> None:
        import requests
        import schemathesis
        from schemathesis import GenerationMode
        from schemathesis.checks import (
            content_type_conformance,
            not_a_server_error,
            response_headers_conformance,
            response_schema_conformance,
            status_code_conformance,
        )

        base = options["url"].rstrip("/")
        world = build_tenant("fuzz")
        callers = {**world.scope_headers, "user": world.approver_header, "public": None}
        schema = schemathesis.openapi.from_url(f"{base}/api/schema/")
        session = requests.Session()
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_headers_conformance, response_schema_conformance]
        figures: Counter = Counter()
        statuses: Counter = Counter()
        failures: list[str] = []
        started = time.monotonic()

        for result in schema.get_all_operations():
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            if (method, path) in SKIP:
                figures["operations skipped"] += 1
                continue
            figures["operations"] += 1
            who = _requirement(path)
            header = callers.get(who)
            real_ids = {name: str(PATH_IDS[name](world, path)) for name in re.findall(r"\{(\w+)\}", path)
                        if name in PATH_IDS}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self._fuzz(operation, mode, header, real_ids, method, path, options, base, session, checks,
                           figures, statuses, failures)
        elapsed = time.monotonic() - started

        summary = {"operations": figures["operations"], "operations_skipped": figures["operations skipped"],
                   "requests_fuzzed": figures["requests"], "five_xx": figures["5xx"],
                   "transport_errors": figures["transport errors"], "failures": len(failures),
                   "statuses": dict(sorted(statuses.items())), "seconds": round(elapsed, 1),
                   "examples_per_operation_and_mode": options["examples"], "seed": options["seed"]}
        distinct = Counter(re.sub(r"\d{3}: ", "", f, count=1) for f in failures)
        for failure, times in distinct.most_common(40):
            self.stdout.write(self.style.ERROR(f"{times}x {failure}"))
        self.stdout.write(f"fuzz_api: {json.dumps(summary)}")
        if options["json"]:
            with open(options["json"], "w") as fh:
                json.dump({**summary, "first_failures": failures[:200]}, fh, indent=2)
        if failures or figures["requests"] == 0:
            raise CommandError(f"fuzz_api: {len(failures)} failure(s), {figures['5xx']} 5xx", returncode=1)


    def _fuzz(self, operation, mode, header, real_ids, method, path, options, base, session, checks, figures,
              statuses, failures) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings
        from schemathesis import GenerationMode
        from schemathesis.checks import content_type_conformance, not_a_server_error

        counter = {"n": 0}

        @seed(options["seed"])
        @settings(max_examples=options["examples"], deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            counter["n"] += 1
            if real_ids and counter["n"] % 2 == 0:
                case.path_parameters = {**(case.path_parameters or {}), **real_ids}
            headers = {"Authorization": header} if header else {}
            if method == "POST" and "Idempotency-Key" not in (case.headers or {}):
                headers["Idempotency-Key"] = f"fuzz-{mode.value}-{counter['n']}-{time.monotonic_ns()}"
            try:
                response = case.call(base_url=base, session=session, headers=headers, timeout=30)
            except Exception as exc:  # noqa: BLE001 - a refused connection is a finding too
                failures.append(f"{method} {path}: the request failed: {type(exc).__name__}: {exc}")
                figures["transport errors"] += 1
                return
            figures["requests"] += 1
            statuses[response.status_code] += 1
            problems = []
            if response.status_code >= 500:
                figures["5xx"] += 1
            if response.status_code >= 400:
                problems.extend(_error_shape_problems(response))
            try:
                case.validate_response(response, checks=checks if mode == GenerationMode.POSITIVE
                                       else [not_a_server_error, content_type_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises a group of failures
                found = getattr(exc, "exceptions", None) or [exc]
                problems.extend(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                                for e in found)
            for problem in problems:
                failures.append(f"{method} {path} [{mode.value}] {response.status_code}: {problem}")

        run()


def _header(response, name: str) -> str:
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, (list, tuple)) else str(value)
    return ""


def _error_shape_problems(response) -> list[str]:
    content_type = _header(response, "Content-Type")
    if not content_type.startswith("application/json"):
        return [f"an error answered {content_type!r}, not JSON"]
    try:
        body: Any = response.json()
    except ValueError:
        return ["an error body is not JSON"]
    error = body.get("error") if isinstance(body, dict) else None
    if (not isinstance(body, dict) or set(body) != {"error"} or not isinstance(error, dict)
            or not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str)
            or not isinstance(error.get("fields"), dict)):
        return [f"an error is not in the project's shape: {str(body)[:200]}"]
    return []
