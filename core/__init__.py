"""The shared kernel under every app: the one error shape, the API plumbing, admin base classes and database helpers.

It imports no app of the project (the layering contract in ``.importlinter`` keeps it so)."""
