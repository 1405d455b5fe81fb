"""File formats, one codec module per format: each reads and writes its format, and nothing else.

- ``yolo_labels``: YOLO label lines (detect, segment, pose; a classifier's prediction lines)
  and the one number format every writer of them uses.
- ``dataset_yaml``: dataset yamls (``data=``): read into a mapping, built and written.
- ``coco``: COCO JSON: annotation files read into small records; instance and results files
  written.
- ``labelme``: labelme JSON files (shapes as written, image flags, embedded image data).
- ``labelset``: the format-neutral set of labelled images (pixels; objects as the tool drew
  them; problems as file, element, reason) that every other tool's codec reads into and
  writes from; ``outlines``: masks traced to rings with holes and filled back.
- Other tools' labels, each to and from a ``LabelSet``: ``labelme_labelset`` (labelme folders:
  group_id instances, ``__ignore__``, point groups as keypoints), ``cvat`` (CVAT for images 1.1
  XML), ``labelstudio`` (Label Studio JSON / JSON-MIN, read only), ``coco_labelset`` (COCO
  instances, RLE, keypoints; images found beside the JSON), ``masks`` (Pascal VOC style
  mask PNGs), ``yolo_dataset`` (YOLO folders and zips, Ultralytics and Roboflow layouts).
- Their parts: ``labelme_labelset_write``, ``coco_labelset_write``, ``masks_write`` (the
  writers); ``coco_annotations`` (one COCO annotation to an object); ``yolo_splits`` (where
  a YOLO dataset's images and labels are, Roboflow's paths), ``yolo_dataset_yaml`` (its
  yaml's keys), ``yolo_rows`` (what its label files hold).
- ``image_names``: the engine's one set of image suffixes (``engine.data.images`` uses it).
- ``cvat_*`` (xml, shapes, write), ``labelstudio_*`` (images, regions, min, brush): their parts.
- ``export_metadata``, ``export_layouts``: what an export says about itself, and where each
  export format keeps its parts.

A new format is one new module here of the same shape: a docstring saying what it reads and
writes; ``read_*``/``parse_*`` functions that return plain records (or a ``LabelSet``) and
raise ``DatasetError`` (or the module's own error) naming the file, line and key;
``format_*``/``write_*`` functions that write atomically (``engine.utils.atomic``). Problems
with single entries come back as reasons for the caller to report, not as log lines.

The bottom of the engine's task-specific layers: it imports only the standard library, numpy,
yaml, PIL and OpenCV (image headers, mask outlines) and ``engine.utils``/``engine.errors``, so
the data, export and backend packages can all use it without importing one another.
"""
