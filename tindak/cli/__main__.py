"""`python -m tindak.cli`: the same as the `tindak` command."""

import sys

from tindak.cli import main

sys.exit(main())
