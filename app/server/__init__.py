"""The HTTP process: /webhooks, /healthz, /metrics, the dispatcher that orders work per
repository, and the wiring of typed Services from Settings."""
