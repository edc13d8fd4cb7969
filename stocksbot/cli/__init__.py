"""The command line: one Click group per noun; each command parses, calls the service, renders."""
