# Kept by the template: `copier update` rewrites this file.
"""The experiment tracker and the model registry (its alias names are defined once, in registry.py)."""
