"""Reads the facts about a branch (checks, history, owners) and judges its head: red, green,
which commit broke it, and whether the rails allow reverting it."""
