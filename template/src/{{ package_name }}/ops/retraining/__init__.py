# Kept by the template: `copier update` rewrites this file.
"""Retraining: its guards, decisions and the feedback rows it trains on."""
