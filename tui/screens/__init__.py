"""One screen per wizard step."""
