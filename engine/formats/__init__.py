"""File formats, one codec module per format: each reads and writes its format, and nothing else.

The bottom of the engine's task-specific layers: it imports only the standard library, numpy,
yaml and ``engine.utils``/``engine.errors``, so the data, export and backend packages can all
use it without importing one another.
"""
