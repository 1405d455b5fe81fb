"""Annotation assists, Qt-free: what turns a click or a box into an outline, and what finds
likely label errors.

- ``classical``: OpenCV tools that need no weights (box to polygon, magic wand, edge-snapping
  scissors, refinement by positive and negative clicks), on a downscaled copy of huge images.
- ``sam``: Segment Anything ONNX encoder/decoder pairs the user installs: checked, the image
  embedding computed once and cached, each prompt (points, box) run through the decoder.
- ``checker``: likely label errors across a project (left/right swaps, duplicates, degenerate
  polygons, keypoints outside their box, disagreements with a trained model).

The studio calls these on worker threads and turns their outlines into editable polygons.
"""
