"""How well a model does: metrics, decision rules and their fitting, reports and the model card.

May import ``inference`` and ``segmentation`` (it measures what the app runs), never ``training``.
"""
