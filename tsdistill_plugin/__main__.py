"""``python -m tsdistill_plugin``: the ``tsdistill`` command line."""

import sys

from .cli import main

sys.exit(main())
