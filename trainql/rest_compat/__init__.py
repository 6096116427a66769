"""The legacy REST endpoints: parse the request, call one resolver, shape the old response."""
