"""Writes of the governance app, by subdomain: ``policies``, ``autonomy``, ``authorities``, ``approvals``."""
