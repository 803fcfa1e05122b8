"""`python -m recount bench`: benchmarks that report figures (never timed tests), written to docs/benchmarks.md."""
