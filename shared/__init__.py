"""What every recount function ships with: contracts, settings, recompute and stores."""
