"""Customer feedback: a survey after a resolve, on the conversation's channel, its answers."""
