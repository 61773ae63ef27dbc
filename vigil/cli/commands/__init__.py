"""One module per command group: each adds its commands (``register(sub)``) and holds their
handlers (parse -> call :mod:`vigil.app` -> print)."""
