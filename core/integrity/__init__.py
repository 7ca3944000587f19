"""Integrity: the one canonical JSON (``canonical``), the one hash-chain encoder with versioned hash formats
(``chain``) and the one registry of verifiers with one report shape (``registry``). Pure Python below the apps: each
app registers the verifiers of its own records, and ``verify_all`` runs them.

docs/specs/audit-chain.md states every format for readers who do not read Python."""
