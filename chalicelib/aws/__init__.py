"""Adapters to AWS services other than the ledger table."""
