"""The one registry of integrity verifiers, and the one shape of what they report.

A verifier is a function registered under a name (``@register("name")``), by the app whose records it checks, from
a module its ``AppConfig.ready()`` imports. It takes ``progress`` (a callable given the number checked so far) or
nothing, and returns a :class:`Check`: how many things it checked, the :class:`Problem` s it found (empty: all
held) and notes for the reader. ``run`` runs them, times each, and turns an exception into a failed result; the
console's ``verify_all`` stores the :class:`Report` and raises the alert.
"""
from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

logger = logging.getLogger("console.integrity")

MAX_PROBLEMS_KEPT = 20


class Problem(str):
    """One thing wrong: what (``subject``: ``sequence 12``, ``account 3f…``), why (``detail``), and, for the
    chains, the stable word for it (``kind``: ``gap``, ``link broken``, ``content altered``…) and the element's
    ``sequence``. It is the line a report prints: ``"<subject>: <kind> (<detail>)"``, ``"<subject>: <detail>"``, or
    the subject alone for a sentence that names its own subject; so it is stored and compared as that text.
    ``about`` holds the ids it names (also readable as attributes: ``problem.account_id``)."""

    subject: str
    detail: str
    kind: str
    sequence: int | None
    about: dict[str, str]

    def __new__(cls, subject: str, detail: str = "", *, kind: str = "", sequence: int | None = None,
                **about: str) -> Problem:
        text = f"{subject}: {kind} ({detail})" if kind else f"{subject}: {detail}" if detail else subject
        problem = super().__new__(cls, text)
        problem.subject, problem.detail, problem.kind, problem.sequence = subject, detail, kind, sequence
        problem.about = about
        return problem

    def __getattr__(self, name: str) -> str:
        about = self.__dict__.get("about", {})
        if name in about:
            return about[name]
        raise AttributeError(name)

    def __reduce__(self):
        return (_problem, (self.subject, self.detail, self.kind, self.sequence, self.about))

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "kind": self.kind, "detail": self.detail, "sequence": self.sequence,
                **self.about}


def _problem(subject, detail, kind, sequence, about) -> Problem:
    return Problem(subject, detail, kind=kind, sequence=sequence, **about)


@dataclass
class Check:
    """What a verifier returns. ``fail(...)`` records a problem (keeping the first ``limit``, counting all);
    ``finish()`` says how many more there were."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem_count: int = 0
    limit: int = field(default=200, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problem_count

    def fail(self, subject: str, detail: str = "", *, kind: str = "", sequence: int | None = None,
             **about: str) -> Problem:
        found = Problem(subject, detail, kind=kind, sequence=sequence, **about)
        self.add(found)
        return found

    def add(self, problem: str) -> None:
        self.problem_count = max(self.problem_count, len(self.problems)) + 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)

    def finish(self) -> Check:
        if self.problem_count > len(self.problems):
            self.problems.append(f"… and {self.problem_count - len(self.problems)} more")
        return self

    def summary(self) -> str:
        if self.ok:
            return f"{self.checked} checked, all hold"
        return f"{max(self.problem_count, len(self.problems))} problem(s) in {self.checked}; first: {self.problems[0]}"


@dataclass
class VerifierResult:
    """One verifier's run, as a report holds it (problems as their text)."""

    name: str
    ok: bool
    checked: int
    problems: list[str]
    problem_count: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "checked": self.checked, "problems": self.problems,
                "problem_count": self.problem_count, "seconds": round(self.seconds, 4), "notes": self.notes}


@dataclass
class Report:
    """Every verifier's result of one run."""

    ok: bool
    results: list[VerifierResult]
    started_at: datetime
    finished_at: datetime
    trigger: str
    id: Any = None

    @property
    def failed(self) -> list[VerifierResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        if self.ok:
            return "integrity intact: " + ", ".join(f"{r.name} {r.checked}" for r in self.results)
        return "integrity check failed: " + "; ".join(
            f"{r.name}: {r.problems[0] if r.problems else 'failed'}" for r in self.failed)

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id) if self.id else None, "ok": self.ok, "trigger": self.trigger,
                "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
                "summary": self.summary(), "verifiers": [r.as_dict() for r in self.results]}


Verifier = Callable[..., Check]
_VERIFIERS: dict[str, Verifier] = {}


def register(name: str) -> Callable[[Verifier], Verifier]:
    """Register a verifier under ``name`` (decorator). A name registered twice fails loudly."""

    def decorate(func: Verifier) -> Verifier:
        if name in _VERIFIERS and _VERIFIERS[name] is not func:
            raise ValueError(f"integrity verifier {name!r} is already registered")
        _VERIFIERS[name] = func
        return func

    return decorate


def verifiers() -> dict[str, Verifier]:
    """``{name: verifier}`` in the order they were registered (the apps' order, lowest layer first)."""
    return dict(_VERIFIERS)


def run_one(name: str, func: Verifier, progress: Callable[[str, int], None] | None = None) -> VerifierResult:
    """Run one verifier, timed; an exception is a failed result naming it, not a crash."""
    started = time.perf_counter()
    try:
        if progress is not None and "progress" in inspect.signature(func).parameters:
            outcome = func(progress=lambda *args: progress(name, int(args[0]) if args else 0))
        else:
            outcome = func()
        problems = [str(p) for p in outcome.problems]
        count = max(outcome.problem_count, len(problems))
        ok, checked, notes = outcome.ok and not problems, int(outcome.checked), list(outcome.notes)
    except Exception as exc:
        logger.exception("integrity verifier %s raised", name)
        ok, checked, notes = False, 0, []
        problems, count = [f"the verifier could not run: {type(exc).__name__}: {exc}"], 1
    return VerifierResult(name=name, ok=ok, checked=checked, problems=problems[:MAX_PROBLEMS_KEPT],
                          problem_count=count, seconds=time.perf_counter() - started, notes=notes)


def run(*, only: list[str] | None = None, progress: Callable[[str, int], None] | None = None
        ) -> list[VerifierResult]:
    """Run every registered verifier, or those named in ``only`` (ValueError naming any unknown)."""
    chosen = verifiers()
    if only:
        unknown = sorted(set(only) - set(chosen))
        if unknown:
            raise ValueError(f"unknown verifiers: {', '.join(unknown)} (known: {', '.join(sorted(chosen))})")
        chosen = {name: chosen[name] for name in only}
    return [run_one(name, func, progress) for name, func in chosen.items()]
