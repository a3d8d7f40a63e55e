# Kept by the template: `copier update` rewrites this file.
"""Deployment: the promotion gate and rollback, the deployed endpoint and its smoke test."""
