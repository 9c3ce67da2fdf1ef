"""`python -m wacft.cli`, as `wacft`."""

import sys

from wacft.cli import main

sys.exit(main())
