"""The DynamoDB adapter: table (client, calls, keys), codec, writes, unit of work, store."""

from chalicelib.adapters.dynamo.dynamo_store import RETRY_CONFIG, DynamoStore

__all__ = ["RETRY_CONFIG", "DynamoStore"]
