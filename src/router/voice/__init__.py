"""Live calls: a caller is connected to an agent in real time; the ring is the offer."""
