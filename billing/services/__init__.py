"""Billing's writes. Import from the submodules: ``billing.services.ledger``, ``.accounts``, ``.payments``…"""
