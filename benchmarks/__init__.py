"""`make bench`: measured scenarios on the sandbox's realistic profile (time-scaled) that print ratios and figures."""
