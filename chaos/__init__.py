"""`python -m chaos`: the router's promises checked under faults, by SQL over the history."""
