"""Process set-up: what a process does before and around the runtimes it loads.

- ``threads``: torch's OpenMP spinning and onnxruntime's pool, set before torch loads;
- ``allocator``: tcmalloc preloaded for training processes only (a relaunch with LD_PRELOAD);
- ``signal_stack``: the main thread's alternate signal stack kept around runtimes that replace it;
- ``array_process``: a child process that runs a model and exchanges float32 arrays over a pipe.
- ``launch``: one training process per device through torch's elastic launcher (torchrun's),
  relaying rank 0's events and passing a cancel on (it also imports ``engine.events`` and
  ``engine.cancel``).

Importing this package imports nothing else (not torch), so a program can call
``threads.configure_threads`` first thing. It sits below the backends and export, and imports
only the standard library, numpy and ``engine.errors`` / ``engine.utils``.
"""
