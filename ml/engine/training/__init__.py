"""Making models: the training loop, trainers, augmentations, folds, calibration and ensemble building.

May import every other room of the engine.
"""
