"""Supervisor and administrator API: queues, agents, the routing policy, moves."""
