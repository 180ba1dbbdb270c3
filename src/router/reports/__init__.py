"""Reports for supervisors: measures per conversation read by queue, agent, channel and time."""
