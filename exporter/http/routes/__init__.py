"""Route handlers, one module per area of the API, each with its msgspec models beside it."""
