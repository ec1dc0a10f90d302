"""The ports: what the use cases need of storage and queues, and nothing about how."""
