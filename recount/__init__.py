"""The operator CLI and the local runtime (never deployed): python -m recount."""
