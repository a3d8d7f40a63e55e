# Kept by the template: `copier update` rewrites this file.
"""Training around the team's train.py: batch prediction, the pipeline and its platform definitions."""
