"""The ``newswire`` command: run the wire, its services, and the tools editors and operators use."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

DEV_DIR = Path(".newswire")


def _dev_env() -> dict[str, str]:
    """Values from ``.newswire/dev.env`` (written by ``newswire dev``), overridden by the environment."""
    values: dict[str, str] = {}
    path = DEV_DIR / "dev.env"
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if k.startswith("NEWSWIRE_") or k == "REDIS_URL"})
    return values


def _need(value: str | None, what: str, env_name: str) -> str:
    if not value:
        sys.exit(f"newswire: no {what}; pass it, set {env_name}, or run `newswire dev` first")
    return value


def cmd_dev(args: argparse.Namespace) -> int:
    from services.wire.devenv import run_dev

    return run_dev(Path(args.data_dir), args.ingest_port, args.publish_port)


def cmd_service(args: argparse.Namespace) -> int:
    if args.command == "ingest":
        from services.ingest.__main__ import main
    elif args.command == "enrich":
        from services.enrich.__main__ import main
    else:
        from services.publish.__main__ import main
    main()
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from services.wire.story import load_story

    env = _dev_env()
    url = _need(args.url or env.get("NEWSWIRE_INGEST_URL"), "ingest URL", "NEWSWIRE_INGEST_URL")
    key = _need(args.key or env.get("NEWSWIRE_EDITOR_KEY"), "editor key", "NEWSWIRE_EDITOR_KEY")
    try:
        story = load_story(Path(args.story))
    except (OSError, ValueError) as exc:
        sys.exit(f"newswire file: {exc}")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": args.idempotency_key or str(uuid.uuid4())}
    response = httpx.post(url.rstrip("/") + "/v1/articles", json=story, headers=headers, timeout=30)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 202 else 1


def _article_url(env: dict[str, str], args: argparse.Namespace, suffix: str = "") -> tuple[str, dict[str, str]]:
    url = _need(args.url or env.get("NEWSWIRE_INGEST_URL"), "ingest URL", "NEWSWIRE_INGEST_URL")
    key = _need(args.key or env.get("NEWSWIRE_EDITOR_KEY"), "editor key", "NEWSWIRE_EDITOR_KEY")
    article = args.article.rsplit(":", 1)[-1]
    return f"{url.rstrip('/')}/v1/articles/{article}{suffix}", {"Authorization": f"Bearer {key}"}


def cmd_lifecycle(args: argparse.Namespace) -> int:
    """update, correct, kill and embargo: one HTTP call each, the answer printed as JSON."""
    from services.wire.story import load_story

    env = _dev_env()
    body: dict[str, Any]
    if args.command in ("update", "correct"):
        try:
            body = load_story(Path(args.story))
        except (OSError, ValueError) as exc:
            sys.exit(f"newswire {args.command}: {exc}")
        if args.command == "correct":
            body["correctionNote"] = args.note
        method, suffix = ("PUT", "") if args.command == "update" else ("POST", "/corrections")
    elif args.command == "kill":
        method, suffix, body = "POST", "/kill", {"reason": args.reason, "category": args.category}
    else:
        method, suffix, body = "PUT", "/embargo", {"embargoedUntil": None if args.lift else args.until}
    url, headers = _article_url(env, args, suffix)
    if getattr(args, "version", None) is not None:
        headers["If-Match"] = f'"{args.version}"'
    response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 202 else 1


def cmd_article(args: argparse.Namespace) -> int:
    env = _dev_env()
    suffix = "/events" if args.events else (f"/versions/{args.version}" if args.version else "")
    url, headers = _article_url(env, args, suffix)
    response = httpx.get(url, headers=headers, timeout=30)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 200 else 1


def _print_item(item: dict[str, Any]) -> None:
    headline = (item.get("headlines") or [{}])[0].get("value", "")
    print(f"\n== {headline}")
    print(f"   {item.get('uri')}  version {item.get('version')}  {item.get('pubStatus')}  urgency {item.get('urgency')}")
    for field in ("people", "organisations", "places"):
        names = [n.get("name", "") for n in item.get(field, [])]
        if names:
            print(f"   {field:<14}{', '.join(names)}")
    subjects = [s["name"] for s in item.get("subjects", []) if s.get("rel") == "about"]
    if subjects:
        print(f"   {'subjects':<14}{', '.join(subjects)}")
    for link in item.get("associations", []):
        print(f"   related       {link.get('name')}  <{link.get('uri')}>")


def cmd_tail(args: argparse.Namespace) -> int:
    env = _dev_env()
    url = _need(args.url or env.get("NEWSWIRE_PARTNER_URL"), "partner URL", "NEWSWIRE_PARTNER_URL")
    token = _need(args.token or env.get("NEWSWIRE_PARTNER_TOKEN"), "partner token", "NEWSWIRE_PARTNER_TOKEN")
    last_id = args.last_event_id
    seen = 0
    while True:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            timeout = httpx.Timeout(5, read=None)
            with httpx.stream("GET", url.rstrip("/") + "/v1/stream", headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    sys.exit(f"newswire tail: {response.status_code} {response.text}")
                print(f"# following {url}/v1/stream", file=sys.stderr)
                event: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if "data" in event:
                            item = json.loads(event["data"])
                            last_id = event.get("id", last_id)
                            print(json.dumps(item)) if args.json else _print_item(item)
                            sys.stdout.flush()
                            seen += 1
                            if args.count and seen >= args.count:
                                return 0
                        event = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            print(f"# connection lost ({exc}); resuming after {last_id}", file=sys.stderr)
            time.sleep(1)
        except KeyboardInterrupt:
            return 0


def _redis_settings() -> Any:
    from services.wire.settings import Settings

    env = _dev_env()
    return Settings.from_env({**env, **({"REDIS_URL": env["REDIS_URL"]} if "REDIS_URL" in env else {})})


def cmd_replay(args: argparse.Namespace) -> int:
    from services.wire.replay import cmd_replay as run

    return run(args)


def cmd_partners(args: argparse.Namespace) -> int:
    from services.publish.cli import command
    from services.publish.webhooks import WebhookSettings, check_webhook_url

    allow = WebhookSettings.from_env(_dev_env()).allow
    return command(args, _redis_settings(), lambda url: check_webhook_url(url, allow))


def cmd_credentials(args: argparse.Namespace) -> int:
    from services.wire.credentials import CredentialError, Role, issue, list_credentials, revoke
    from services.wire.eventlog import connect

    settings = _redis_settings()

    async def run() -> int:
        redis = connect(settings)
        try:
            chosen = getattr(args, "role", None)
            role = Role(chosen) if chosen else Role.EDITOR
            if args.action == "create":
                try:
                    secret = await issue(redis, role, args.name, replace=args.replace)
                except CredentialError as exc:
                    print(f"newswire: {exc}", file=sys.stderr)
                    return 1
                print(secret)
                print(f"# {role.value} {args.name!r}: store this now, it is shown only once", file=sys.stderr)
            elif args.action == "list":
                for c in await list_credentials(redis, Role(chosen) if chosen else None):
                    print(f"{c.role.value:<8} {c.name:<32} created {c.created_at.isoformat()}")
            elif args.action == "revoke":
                if not await revoke(redis, role, args.name):
                    print(f"newswire: no {role.value} named {args.name!r}", file=sys.stderr)
                    return 1
                print(f"revoked {role.value} {args.name!r}")
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(run())


def cmd_health(args: argparse.Namespace) -> int:
    from services.wire.eventlog import connect
    from services.wire.status import worker_heartbeats

    settings = _redis_settings()

    async def run() -> int:
        redis = connect(settings)
        try:
            workers = await worker_heartbeats(redis, int(time.time() * 1000))
        finally:
            await redis.aclose()
        prefix = f"{args.service}-{os.uname().nodename}" if args.local else f"{args.service}-"
        fresh = [w.consumer for w in workers if w.consumer.startswith(prefix) and w.live]
        print(f"{args.service}: {len(fresh)} live consumer(s) {', '.join(fresh)}")
        return 0 if fresh else 1

    return asyncio.run(run())


def cmd_dead(args: argparse.Namespace) -> int:
    from services.wire.eventlog import EventLog, connect

    settings = _redis_settings()

    async def run() -> int:
        redis = connect(settings)
        try:
            log = EventLog(redis, settings)
            for partition in log.partitions():
                for dead in await log.dead_letters(partition, args.count):
                    print(f"{dead.dead_at.isoformat()} {dead.stream} {dead.entry_id} group={dead.group} "
                          f"deliveries={dead.deliveries} error={dead.error}")
        finally:
            await redis.aclose()
        return 0

    return asyncio.run(run())


def cmd_status(args: argparse.Namespace) -> int:
    import msgspec

    from services.wire.eventlog import connect
    from services.wire.status import status_text, wire_status

    settings = _redis_settings()

    async def run() -> int:
        redis = connect(settings)
        try:
            status = await wire_status(redis, settings.partitions)
        finally:
            await redis.aclose()
        print(msgspec.json.encode(status).decode() if args.json else status_text(status))
        return 0

    return asyncio.run(run())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="newswire", description="An event-sourced news wire.")
    sub = top.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole wire locally (Redis, ingest, enrich, publish)")
    dev.add_argument("--data-dir", default=str(DEV_DIR), help="where Redis keeps its data and dev.env is written")
    dev.add_argument("--ingest-port", type=int, default=8000)
    dev.add_argument("--publish-port", type=int, default=8001)
    dev.set_defaults(func=cmd_dev)

    for name, text in (("ingest", "the ingest HTTP API"), ("enrich", "the enrich worker"),
                       ("publish", "the publish worker and partner API")):
        sub.add_parser(name, help=f"run {text} (settings from NEWSWIRE_* and REDIS_URL)").set_defaults(func=cmd_service)

    file_ = sub.add_parser("file", help="file a story (STORY.json as the API takes it, or STORY.txt)")
    file_.add_argument("story")
    file_.add_argument("--url", help="ingest URL (default: NEWSWIRE_INGEST_URL or .newswire/dev.env)")
    file_.add_argument("--key", help="editor key (default: NEWSWIRE_EDITOR_KEY or .newswire/dev.env)")
    file_.add_argument("--idempotency-key", help="default: a new random key")
    file_.set_defaults(func=cmd_file)

    def article_command(name: str, text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text)
        command.add_argument("article", help="the article's id (its URN or the id in its URL)")
        command.add_argument("--url", help="ingest URL (default: NEWSWIRE_INGEST_URL or .newswire/dev.env)")
        command.add_argument("--key", help="editor key (default: NEWSWIRE_EDITOR_KEY or .newswire/dev.env)")
        return command

    update = article_command("update", "replace an article's content (a new version)")
    update.add_argument("story")
    update.add_argument("--version", type=int, required=True, help="the version you edited (If-Match)")
    update.set_defaults(func=cmd_lifecycle)
    correct = article_command("correct", "correct an article (a new version with a note)")
    correct.add_argument("story")
    correct.add_argument("--note", required=True, help="what was wrong")
    correct.add_argument("--version", type=int, required=True, help="the version you corrected (If-Match)")
    correct.set_defaults(func=cmd_lifecycle)
    kill = article_command("kill", "withdraw an article from everyone who had it")
    kill.add_argument("--reason", required=True)
    kill.add_argument("--category", choices=["legal", "error", "duplicate", "other"], default="other")
    kill.add_argument("--version", type=int, help="the version you saw (optional)")
    kill.set_defaults(func=cmd_lifecycle)
    embargo = article_command("embargo", "set, extend or lift an article's embargo")
    when = embargo.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", help="RFC 3339 time with a zone, e.g. 2026-05-04T09:30:00Z")
    when.add_argument("--lift", action="store_true", help="release now")
    embargo.add_argument("--version", type=int, help="the version you saw (optional)")
    embargo.set_defaults(func=cmd_lifecycle)
    show = article_command("article", "show an article as it stands, one version, or its events")
    show.add_argument("--version", type=int, help="one version")
    show.add_argument("--events", action="store_true", help="its history")
    show.set_defaults(func=cmd_article)

    tail = sub.add_parser("tail", help="follow the partner stream and print each item")
    tail.add_argument("--url", help="partner API URL (default: NEWSWIRE_PARTNER_URL or .newswire/dev.env)")
    tail.add_argument("--token", help="partner token (default: NEWSWIRE_PARTNER_TOKEN or .newswire/dev.env)")
    tail.add_argument("--last-event-id", help="resume after this id")
    tail.add_argument("--json", action="store_true", help="print each ninjs item as one JSON line")
    tail.add_argument("--count", type=int, default=0, help="stop after this many items")
    tail.set_defaults(func=cmd_tail)

    keys = sub.add_parser("keys", help="editor and admin API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create one and print its secret once")
    create.add_argument("--role", choices=["editor", "admin"], default="editor")
    create.add_argument("--name", required=True)
    create.add_argument("--replace", action="store_true", help="replace an existing one of that name")
    listing = actions.add_parser("list")
    listing.add_argument("--role", choices=["editor", "admin"], default=None)
    revoke = actions.add_parser("revoke")
    revoke.add_argument("--role", choices=["editor", "admin"], default="editor")
    revoke.add_argument("--name", required=True)
    keys.set_defaults(func=cmd_credentials)

    from services.publish.cli import register as register_partners

    register_partners(sub, cmd_partners)

    health = sub.add_parser("health", help="exit 0 when a service's workers are alive")
    health.add_argument("service", choices=["enrich", "publish"])
    health.add_argument("--local", action="store_true", help="only workers on this host")
    health.set_defaults(func=cmd_health)

    status = sub.add_parser("status", help="streams, consumer lag and pending entries, dead letters, workers, partners")
    status.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    status.set_defaults(func=cmd_status)

    dead = sub.add_parser("dead-letters", help="list entries parked after too many failed deliveries")
    dead.add_argument("--count", type=int, default=100)
    dead.set_defaults(func=cmd_dead)
    from services.enrich.cli import register_vocab

    register_vocab(sub)

    replay = sub.add_parser("replay", help="rebuild projections from the log, compare them with the live ones")
    replay.add_argument("--switch", action="store_true", help="install the rebuilt projections (repairs differences)")
    replay.add_argument("--fresh", action="store_true", help="discard an unfinished rebuild instead of resuming it")
    replay.set_defaults(func=cmd_replay)
    return top


def main(argv: list[str] | None = None) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from services.wire.settings import SettingsError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RedisConnectionError as exc:
        print(f"newswire: cannot reach Redis ({exc}); is the wire running, and is REDIS_URL right?", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"newswire: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `newswire tail | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail
        return 0


if __name__ == "__main__":
    sys.exit(main())
