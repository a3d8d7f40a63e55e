# Kept by the template: `copier update` rewrites this file.
"""The template's machinery around the team's code, by concern.

Configuration, the run lifecycle and the command line sit here; training, data, tracking, serving,
deployment, monitoring, retraining, governance and reports are subpackages.

The team's own modules sit one level up (data.py, model.py, train.py and, from level 2, features.py) and are
never rewritten. Change behaviour through config/*.toml or those modules; an edit here is undone by the next
`copier update`.
"""
