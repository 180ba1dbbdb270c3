"""Web-chat sites: the widget backend each site's replies are posted to."""
