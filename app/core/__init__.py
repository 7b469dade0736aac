"""Pure decisions, no I/O and no clock (now is a parameter): incident states and effects,
builds, the safety rails, revert planning and messages, rendering, the config model."""
