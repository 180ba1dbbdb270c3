"""Fetching media the providers host: Meta's Graph API media, Twilio's message media."""
