"""Simulators of GitHub, Slack, PagerDuty and Opsgenie on 127.0.0.1.

Used by the tests, the demo and the benchmarks. They model the services
independently: nothing here imports the app's core or shell, and production
code never imports this package (the demo command is the one exception, and it
only wires the two together).
"""
