"""Plain-PyTorch engine for DermaTrack: architectures, weights, preprocessing, Grad-CAM,
training and evaluation. Nothing in this package imports Django."""
