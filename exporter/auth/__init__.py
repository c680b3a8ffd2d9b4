"""Who is calling: the API token format, the key ring of active keys, the principal a token resolves to
and its role, and creating and revoking keys. No HTTP here: the request pipeline reads the header."""
