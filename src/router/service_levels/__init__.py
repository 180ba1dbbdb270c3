"""Service levels: SLA policies, the SLA clock and each conversation's SLA state."""
