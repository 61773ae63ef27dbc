"""Application services: the one runtime builder and the services the command line and the HTTP
server call (watch, ask, fit, footage, demo, evaluate, train) with typed options, plus alert
delivery. Nothing here parses arguments or prints for a user."""
