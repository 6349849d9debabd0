"""The witness: cosigns the audit log's checkpoints (run it on another machine; see RUNBOOK)."""

import sys

from hope.witness.http import main

if __name__ == "__main__":
    sys.exit(main())
