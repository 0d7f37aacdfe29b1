"""L2R Inspector desktop application (PySide6)."""
