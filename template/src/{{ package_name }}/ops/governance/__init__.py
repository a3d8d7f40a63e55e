# Kept by the template: `copier update` rewrites this file.
"""Governance: the audit trail, model cards, explanations, fairness and compliance reports."""
