"""`python -m simulator`: see `python -m simulator --help`."""

import sys

from simulator.cli import INTERRUPTED, main

try:
    raise SystemExit(main())
except KeyboardInterrupt:  # before sending starts, or a second Ctrl-C: no traceback
    print("interrupted", file=sys.stderr)
    raise SystemExit(INTERRUPTED) from None
