"""The HTTP edge: the request pipeline (telemetry, CORS, problem+json, access), JSON in and out, the
OpenAPI description, the low-level server that answers malformed requests, and the route handlers
(``routes/``), which parse, call the domain and serialize, nothing more."""
