"""Everything the Lambda deploys besides app.py: domain, service layer and storage adapters."""
