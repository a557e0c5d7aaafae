"""``python -m wse_sim.cli``: the same as the ``wse-sim`` command."""

import sys

from .main import main

sys.exit(main())
