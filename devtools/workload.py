"""A reproducible randomized workload: seeded, mixed valid and invalid API traffic, invariants checked after.

``run_workload(seed=N, steps=M)`` builds two tenants (``devtools.world``), then draws M steps from a
``random.Random(seed)``: identity (app users, app sessions), billing (payment intents, payouts, ledgers), ads
(spends, pauses, activations, budget changes), agents (decisions that execute, wait for approval or are refused),
approvals (a person approves or rejects over the API, the jobs worker runs the callbacks), the `ads` kill switch
flipped, another tenant's ids, and broken requests (negative or huge amounts, unknown fields, wrong ids, missing
idempotency keys). Each step is an HTTP request through the whole Django stack; the trace records, per step, the
symbolic request (names such as ``campaign[a]``, never the run's random ids) and the outcome (status and error
code). The same seed gives the same trace. Afterwards: no 5xx, every error in the JSON shape, and ``verify_all``.
"""
from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rest_framework.test import APIClient

from devtools.world import Tenant, build_tenant


@dataclass
class Step:
    n: int
    label: str
    method: str
    path: str          # symbolic
    status: int
    code: str

    def line(self) -> str:
        return f"{self.n:>5} {self.label:<28} {self.method:<6} {self.path:<58} {self.status} {self.code}"


@dataclass
class WorkloadResult:
    seed: int
    steps: list[Step] = field(default_factory=list)
    five_xx: int = 0
    shape_errors: list[str] = field(default_factory=list)
    jobs_run: int = 0
    integrity: Any = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.five_xx and not self.shape_errors and self.integrity is not None and self.integrity.ok

    def trace(self) -> list[str]:
        return [s.line() for s in self.steps]

    def figures(self) -> dict[str, Any]:
        statuses: dict[int, int] = {}
        for s in self.steps:
            statuses[s.status] = statuses.get(s.status, 0) + 1
        return {"seed": self.seed, "steps": len(self.steps), "five_xx": self.five_xx,
                "error_shape_violations": len(self.shape_errors), "jobs_run": self.jobs_run,
                "statuses": dict(sorted(statuses.items())),
                "invariant_checks": len(self.integrity.results) if self.integrity else 0,
                "invariants_ok": bool(self.integrity and self.integrity.ok), "seconds": round(self.seconds, 1)}


class _Run:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.result = WorkloadResult(seed=seed)
        self.tenants: dict[str, Tenant] = {"a": build_tenant(f"w{seed}a"), "b": build_tenant(f"w{seed}b")}
        self.clients: dict[str, APIClient] = {}
        self.n = 0
        self.external_users: dict[str, list[str]] = {"a": [], "b": []}
        self.pending_approvals: list[tuple[str, str]] = []   # (tenant, approval request id)
        self.ads_halted = False

    # ---- plumbing -------------------------------------------------------------------------------------------

    def client(self, header: str) -> APIClient:
        if header not in self.clients:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=header)
            self.clients[header] = client
        return self.clients[header]

    def symbolic(self, path: str) -> str:
        for name, tenant in self.tenants.items():
            for attr, value in vars(tenant).items():
                if attr.endswith("_id") and value is not None and str(value) in path:
                    path = path.replace(str(value), f"{attr[:-3]}[{name}]")
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", path)

    def call(self, label: str, header: str, method: str, path: str, body: Any = None, *, key: bool | str = True,
             raw: bytes | None = None) -> Any:
        self.n += 1
        headers = {}
        if key and method in ("post", "put", "patch"):
            headers["HTTP_IDEMPOTENCY_KEY"] = key if isinstance(key, str) else f"wl-{self.seed}-{self.n}"
        client = self.client(header)
        if raw is not None:
            response = getattr(client, method)(path, data=raw, content_type="application/json", **headers)
        elif method == "get":
            response = client.get(path, body or {}, **headers)
        else:
            response = getattr(client, method)(path, body if body is not None else {}, format="json", **headers)
        code = ""
        if response.status_code >= 400:
            try:
                payload = response.json()
                code = payload["error"]["code"]
                assert set(payload) == {"error"} and isinstance(payload["error"]["fields"], dict)
            except (ValueError, KeyError, TypeError, AssertionError):
                self.result.shape_errors.append(f"step {self.n} {method.upper()} {path}: "
                                                f"{response.status_code} {response.content[:200]!r}")
        elif response.status_code < 300 and response.content:
            payload = response.json()
            if isinstance(payload, dict):
                code = str(payload.get("outcome") or payload.get("status") or "")
        if response.status_code >= 500:
            self.result.five_xx += 1
        self.result.steps.append(Step(self.n, label, method.upper(), self.symbolic(path), response.status_code,
                                      code))
        return response

    def run_jobs(self) -> None:
        from audit.context import scope
        from infrastructure.worker import JobWorker

        worker = JobWorker(name=f"workload:{self.seed}", poll_seconds=0)
        with scope(actor_type="system", actor_id=None, app_id=None):
            while True:
                ran = worker.run_batch()
                self.result.jobs_run += ran
                if not ran:
                    break

    def amount(self, valid: bool = True) -> Any:
        if valid:
            return self.rng.randint(1, 5_000)
        return self.rng.choice([0, -1, -500, 10**16, 10**30, 1.5, "100", True, None])

    # ---- steps ----------------------------------------------------------------------------------------------

    def step_identity(self, t: str, me: Tenant) -> None:
        choice = self.rng.random()
        if choice < 0.4:
            ext = f"u{self.rng.randint(1, 10**6)}"
            phone = f"+55119{self.rng.randint(10**7, 10**8 - 1)}" if self.rng.random() < 0.8 else "12"
            response = self.call("identity.app_user", me.header, "post", "/api/v1/app/users",
                                 {"external_user_id": ext, "phone": phone})
            if response.status_code == 201:
                self.external_users[t].append(ext)
        elif choice < 0.7:
            ext = self.rng.choice(self.external_users[t] or [me.external_user_id])
            self.call("identity.app_session", me.header, "post", "/api/v1/app/sessions", {"external_user_id": ext})
        else:
            self.call("identity.app_user_get", me.header, "get", f"/api/v1/app/users/{me.external_user_id}")

    def step_billing(self, t: str, me: Tenant) -> None:
        choice = self.rng.random()
        valid = self.rng.random() < 0.75
        account = str(me.billing_account_id)
        if choice < 0.35:
            self.call("billing.payment_intent", me.header, "post", "/api/v1/billing/payment-intents",
                      {"account_id": account, "amount": self.amount(valid)})
        elif choice < 0.7:
            amount = self.amount(valid) if self.rng.random() < 0.9 else 10**11
            self.call("billing.payout", me.header, "post", "/api/v1/billing/payouts",
                      {"account_id": account, "amount": amount,
                       "destination": {"type": "pix", "key": "workload@example.com"}})
        elif choice < 0.85:
            self.call("billing.ledger", me.header, "get", f"/api/v1/billing/accounts/{account}/ledger")
        else:
            self.call("billing.no_key", me.header, "post", "/api/v1/billing/payment-intents",
                      {"account_id": account, "amount": 100}, key=False)

    def step_ads(self, t: str, me: Tenant) -> None:
        choice = self.rng.random()
        campaign = f"/api/v1/ads/campaigns/{me.campaign_id}"
        if choice < 0.55:
            valid = self.rng.random() < 0.8
            body = {"amount": self.amount(valid), "quantity": self.rng.randint(1, 50),
                    "unit": self.rng.choice(["click", "impression", "conversion"])}
            if self.rng.random() < 0.05:
                body["surprise"] = 1
            self.call("ads.spend", me.header, "post", f"{campaign}/spend", body)
        elif choice < 0.7:
            self.call("ads.pause", me.header, "post", f"{campaign}/pause", {"reason": "workload"})
        elif choice < 0.85:
            self.call("ads.activate", me.header, "post", f"{campaign}/activate", {})
        else:
            total = self.rng.choice([2_000_000, 2_500_000, 1, -5])
            self.call("ads.budget", me.header, "patch", f"/api/v1/ads/budgets/{me.budget_id}",
                      {"amount_total": total})

    def step_agents(self, t: str, me: Tenant) -> None:
        choice = self.rng.random()
        if choice < 0.6:
            action = self.rng.choice(["pause_campaign", "resume_campaign", "record_spend", "set_budget"])
            payload: dict[str, Any] = {}
            if action == "record_spend":
                payload = {"amount": self.amount(self.rng.random() < 0.85), "quantity": 1, "unit": "click"}
            elif action == "set_budget":
                payload = {"amount_total": self.rng.choice([2_000_000, 3_000_000, 50])}
            self.call(f"agents.{action}", me.header, "post", f"/api/v1/agents/{me.agent_id}/decisions",
                      {"domain": "ads", "action": action, "target_entity": f"campaign:{me.campaign_id}",
                       "payload": payload})
        else:
            response = self.call("agents.credit", me.header, "post", f"/api/v1/agents/{me.billing_agent_id}/decisions",
                                 {"domain": "billing", "action": "credit",
                                  "target_entity": f"account:{me.billing_account_id}",
                                  "payload": {"amount": self.rng.randint(1, 50_000)}})
            if response.status_code == 201 and response.json().get("approval_request_id"):
                self.pending_approvals.append((t, response.json()["approval_request_id"]))

    def step_approvals(self, t: str, me: Tenant) -> None:
        mine = [(tt, rid) for tt, rid in self.pending_approvals if tt == t]
        if not mine:
            self.call("approvals.list", me.approver_header, "get", "/api/v1/governance/approvals",
                      {"status": "pending"})
            return
        _tt, request_id = mine[0]
        self.pending_approvals.remove(mine[0])
        decision = self.rng.choice(["approved", "approved", "rejected"])
        justification = "Checked by the workload's approver." if self.rng.random() < 0.9 else "short"
        self.call(f"approvals.{decision}", me.approver_header, "post",
                  f"/api/v1/governance/approvals/{request_id}/decisions",
                  {"decision": decision, "justification": justification})
        self.run_jobs()

    def step_hostile(self, t: str, me: Tenant) -> None:
        other = self.tenants["b" if t == "a" else "a"]
        choice = self.rng.random()
        if choice < 0.4:
            self.call("hostile.cross_tenant", me.header, "post", f"/api/v1/ads/campaigns/{other.campaign_id}/spend",
                      {"amount": 10, "quantity": 1, "unit": "click"})
        elif choice < 0.6:
            self.call("hostile.cross_tenant_read", me.header, "get", f"/api/v1/billing/accounts/"
                      f"{other.billing_account_id}")
        elif choice < 0.8:
            self.call("hostile.malformed", me.header, "post", "/api/v1/billing/payouts", raw=b'{"amount": ')
        else:
            self.call("hostile.bad_id", me.header, "get", "/api/v1/agents/not-a-uuid")

    def step_switch(self, t: str, me: Tenant) -> None:
        from audit.context import scope
        from infrastructure.services.killswitches import killswitch_activate, killswitch_deactivate

        with scope(actor_type="system", actor_id=None, app_id=None):
            if self.ads_halted:
                killswitch_deactivate("ads", reason="workload: lifted", actor=None)
            else:
                killswitch_activate("ads", reason="workload: halted", actor=None)
        self.ads_halted = not self.ads_halted
        self.n += 1
        self.result.steps.append(Step(self.n, "switch.ads", "-", "ads kill switch", 0,
                                      "halted" if self.ads_halted else "lifted"))

    STEPS = (("identity", 12), ("billing", 16), ("ads", 22), ("agents", 18), ("approvals", 10), ("hostile", 12),
             ("switch", 2))

    def go(self, steps: int) -> WorkloadResult:
        names = [name for name, _w in self.STEPS]
        weights = [w for _n, w in self.STEPS]
        started = time.monotonic()
        for _ in range(steps):
            name = self.rng.choices(names, weights)[0]
            t = self.rng.choice(["a", "b"])
            getattr(self, f"step_{name}")(t, self.tenants[t])
        if self.ads_halted:
            self.step_switch("a", self.tenants["a"])
        for t, request_id in list(self.pending_approvals):
            self.pending_approvals.remove((t, request_id))
            self.call("approvals.final", self.tenants[t].approver_header, "post",
                      f"/api/v1/governance/approvals/{request_id}/decisions",
                      {"decision": "approved", "justification": "Approved at the end of the workload."})
        self.run_jobs()
        from console import integrity

        self.result.integrity = integrity.run_all(trigger="workload")
        self.result.seconds = time.monotonic() - started
        return self.result


def run_workload(*, seed: int, steps: int) -> WorkloadResult:
    from django.conf import settings
    from django.test import override_settings

    from audit.context import scope

    # The requests go through the WSGI stack in this process, addressed to the test client's host.
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]), \
            scope(actor_type="system", actor_id=None, app_id=None):
        return _Run(seed).go(steps)


def describe(result: WorkloadResult) -> str:
    return json.dumps(result.figures())
