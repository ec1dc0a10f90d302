"""A Faker bank that streams realistic (and, on request, fraudulent or broken) transactions."""
