"""The wire's contract: events, the ninjs output type, stream names and the entry codec."""
