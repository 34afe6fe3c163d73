"""Store backends: each module writes the primitives of ``SessionStore`` for one backend."""
