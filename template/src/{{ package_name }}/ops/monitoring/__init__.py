# Kept by the template: `copier update` rewrites this file.
"""Monitoring: predictions against labels, drift, the service's traffic and alerts."""
