# Kept by the template: `copier update` rewrites this file.
"""Reports on served traffic: the canary and shadow comparisons."""
