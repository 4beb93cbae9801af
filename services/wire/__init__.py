"""Shared plumbing of the wire: settings, logging, the event log, credentials, the Redis server."""
