"""Who is calling: bearer API keys, their roles and the agent each agent key speaks for."""
