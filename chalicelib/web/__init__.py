"""The dashboard's page and files, and the HTTP framing checks of the local server."""
