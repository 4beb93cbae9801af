"""The three services of the wire (ingest, enrich, publish) and their shared plumbing."""
