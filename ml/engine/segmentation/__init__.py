"""The lesion outline (a U-Net on a timm encoder) and what is measured from it.

Imports the shared engine modules and ``inference`` (the photo is prepared once for both).
"""
