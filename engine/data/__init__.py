"""Datasets, image reading and augmentation."""
