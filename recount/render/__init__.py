"""What the operator commands print (one line, a rich table or --json): `commands.py` for most of
recount/commands/, `accept.py` for `recount accept`, `explain.py` for `verify --explain`."""
