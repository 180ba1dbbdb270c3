"""Replies leaving the router: the port outbound senders implement, and their dispatcher."""
