"""Run the publish worker and partner API: ``python -m services.publish`` or ``newswire publish``."""

from services.publish.app import create_app
from services.wire.run import serve_http


def main() -> None:
    serve_http(create_app, lambda s: (s.publish_host, s.publish_port))


if __name__ == "__main__":
    main()
