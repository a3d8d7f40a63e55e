# Kept by the template: `copier update` rewrites this file.
"""Reports: html.py, the page, style, tables and figures every HTML report shares; from level 3 the canary
and shadow comparisons of served traffic."""
