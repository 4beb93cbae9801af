"""Run the ingest HTTP service: ``python -m services.ingest`` or ``newswire ingest``."""

from services.ingest.app import create_app
from services.wire.run import serve_http


def main() -> None:
    serve_http(create_app, lambda s: (s.ingest_host, s.ingest_port))


if __name__ == "__main__":
    main()
