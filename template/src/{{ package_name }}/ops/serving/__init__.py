# Kept by the template: `copier update` rewrites this file.
"""Serving: the prediction service, its container entry point and its benchmark."""
