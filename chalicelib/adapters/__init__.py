"""Adapters behind the ports: SQLite, DynamoDB, SQS, S3, Cognito, X-Ray."""
