"""``python -m sepcpp.bench`` (the same as ``python -m sepcpp bench``)."""

import sys

from .cli import main

sys.exit(main())
