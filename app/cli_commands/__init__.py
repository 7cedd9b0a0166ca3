"""The client commands of `entropy-budget`: they talk to a running server over HTTP."""
