"""One ComponentResource per concern; each file owns its children."""
