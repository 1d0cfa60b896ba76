"""Continue the shipped models, validate them, and ship the ones that improved (issue: Table I).

`registry_file` writes checkpoints.toml from values, `transaction` replaces a set of files so
that an interruption leaves either the old set or the new one, `scores` evaluates a candidate
with the benchmark's seeded protocol, `continuation` trains a model further for a time
budget, `readme` renders the README's table of shipped results, and `pipeline` puts them
together.
"""
