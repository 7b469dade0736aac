"""The demo, and the stack that tests and benchmarks run on: the real app wired to the
simulators. Not in the wheel; `python -m app demo` reaches it by one lazy import."""
