"""Rule logic of the archon-security policy pack, importable without starting the pack's server."""
