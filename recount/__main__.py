import sys

from recount.cli import main

try:
    main()
except Exception as error:
    # AWS_PROFILE names no profile, a config file is broken: botocore says so in one line, not a traceback.
    # Matched by module, so that `recount --help` need not import botocore to be ready for it.
    if not type(error).__module__.startswith("botocore."):
        raise
    sys.exit(f"error: {' '.join(str(error).split())}")
