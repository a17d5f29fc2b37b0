"""The command line: serve, tokens, and the commands that talk to a running server."""
