"""Simulators of GitHub, Slack and the pagers on 127.0.0.1, for tests, the demo and benchmarks.
An independent model of the services: it never imports the app, and the app never imports it
(the demo wires the two); not in the wheel."""
