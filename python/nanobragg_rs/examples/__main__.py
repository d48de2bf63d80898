"""``python -m nanobragg_rs.examples [DIR]``."""

from . import main

raise SystemExit(main())
