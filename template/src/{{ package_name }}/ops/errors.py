# Kept by the template: `copier update` rewrites this file.
"""The one error the template's code raises for a problem the user fixes.

Its message names the file, key or command at fault and the fix. Inside a process (the service, a test) it
is an ordinary exception; the command line (cli.py) prints it and exits with status 1, without a traceback.
"""

from __future__ import annotations


class OpsError(Exception):
    """A problem with the project's settings, data or state that the message tells how to fix."""


class ConfigError(OpsError):
    """A config/*.toml file that cannot be read or whose values are wrong (settings.py checks them).

    Its message has one line per problem, each naming the file, the key (or the line, for broken TOML) and
    the fix, e.g. `config/deploy.toml: canary.challenger_share: 1.0 is not below 1; set a share in [0, 1),
    e.g. 0.1`.
    """
