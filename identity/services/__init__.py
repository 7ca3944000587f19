"""Writes of the identity app, by subdomain: ``otp``, ``users``, ``sessions``, ``apps``."""
