"""YOLO Studio's desktop app (PySide6), built on the engine's public API only.

``state`` holds the project database (SQLAlchemy models, Alembic migrations, the lock);
``services`` the app's use-cases without widgets (projects, import, export, thumbnails);
``workers`` the QThread workers that run them; ``ui`` the window, pages and dialogs.
"""
