"""The studio's use-cases without widgets: projects, import and export of datasets, thumbnails,
statistics. Each is a plain function or class that a worker can run off the GUI thread."""
