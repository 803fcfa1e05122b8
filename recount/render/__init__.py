"""What the operator commands print (one line, a rich table or --json), a module per command or family:
`workspace.py` (recompute, send, status, sweep, backfill), `verify.py` and `explain.py` (`verify --explain`),
`dead_letters.py`, `preflight.py`, `canary.py`, `accept.py`."""
