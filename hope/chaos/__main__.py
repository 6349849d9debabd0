"""``python -m hope.chaos``: the chaos run (see hope.chaos.runner)."""

import sys

from hope.chaos.runner import main

if __name__ == "__main__":
    sys.exit(main())
