# Kept by the template: `copier update` rewrites this file.
"""The one error the template's code raises for a problem the user fixes.

Its message names the file, key or command at fault and the fix. Inside a process (the service, a test) it
is an ordinary exception; the command line (cli.py) prints it and exits with status 1, without a traceback.
"""

from __future__ import annotations


class OpsError(Exception):
    """A problem with the project's settings, data or state that the message tells how to fix."""
