"""Pure routing decisions: business hours, routing policy and the choice of an owner."""
