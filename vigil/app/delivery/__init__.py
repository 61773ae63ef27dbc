"""Alert delivery adapters: webhooks and MQTT (the server's SSE stream reads the store)."""
