# Kept by the template: `copier update` rewrites this file.
"""`python -m <package> <command>`: the same command line as the `<project>` script (ops/cli.py)."""

from .ops.cli import main

raise SystemExit(main())
