# Kept by the template: `copier update` rewrites this file.
"""Data around the team's data.py: the validated data pipeline and the kept data versions."""
