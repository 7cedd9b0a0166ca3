"""The HTTP methods the service knows, named once: the read-only ones and the writes."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Read-only: served in a read transaction, allowed to read-scope API keys."""
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Writes: they may carry a (JSON) body and need a write-scope API key."""
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""Every known method, in the order an Allow header lists them."""
