"""`python -m worker.cli`: the `giftq` command."""

import sys

from worker.cli.main import main

sys.exit(main())
