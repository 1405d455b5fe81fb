"""Prediction: sources of frames, the predictor, and results."""
