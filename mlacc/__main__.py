"""`python -m mlacc` is `mlacc`."""

import sys

from mlacc.cli import main

sys.exit(main())
