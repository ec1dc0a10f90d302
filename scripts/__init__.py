"""Developer and operator commands (serve, demo, provisioning, keys); not deployed."""
