"""ComponentResources of the platform, one concern per module; `__main__.py` wires them."""
