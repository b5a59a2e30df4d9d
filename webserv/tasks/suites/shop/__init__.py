"""The shop suite: ``suite.json`` (golden data it targets), ``tasks.json`` (generated)."""
