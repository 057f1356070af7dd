"""marshmallow schemas: the producer's order request and the provider payloads."""
