"""`python -m scripts.keys`: a bank's API keys (create, list, revoke) and its systems' Cognito app
clients (map, list, unmap) on the configured store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TextIO

from chalicelib.bootstrap import open_store
from chalicelib.config import ConfigError, load_settings
from chalicelib.errors import ValidationError
from chalicelib.ports.store import KeyStore, StoreError
from chalicelib.usecases.api_keys import create_key, list_keys, revoke_key
from chalicelib.usecases.app_clients import list_clients, map_client, unmap_client

EPILOG = """\
examples:
  python -m scripts.keys create --bank acme          # prints the new key once: keep it
  python -m scripts.keys list --bank acme            # key ids, creation times, status
  python -m scripts.keys revoke --bank acme --key-id 1a2b3c4d
  python -m scripts.keys map-client --bank acme --client-id 4tb1ce...   # a bank's system
  python -m scripts.keys list-clients --bank acme
  python -m scripts.keys unmap-client --bank acme --client-id 4tb1ce...

The store is the one the app uses, named by the same environment: STORE (sqlite|dynamodb),
SQLITE_PATH, TABLE_NAME. Each command names it first, on stderr ("store: SQLite file ..." or
"store: DynamoDB table ... at <endpoint> (region ...)"), so a listing stays rows only.

Rotating a key: create a new one, move the bank to it, revoke the old one. A revoked key is
refused (403) within KEY_CACHE_TTL_S seconds (default 30) on every warm process. Only SHA-256
hashes of keys are stored, so a lost key cannot be shown again.

A bank's system may use a Cognito app client (client-credentials tokens) instead of a key: the
app client is mapped to one bank here. A client keeps the bank it was first mapped to until it
is unmapped; an unmap takes effect within KEY_CACHE_TTL_S seconds too.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.keys",
        description="Manage the API keys that map a caller (x-api-key header) to a bank.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("create", help="create a key for a bank and print it once")
    listing = commands.add_parser("list", help="list a bank's keys (ids and status, no keys)")
    revoke = commands.add_parser("revoke", help="revoke one of a bank's keys")
    mapping = commands.add_parser("map-client", help="map a Cognito app client to a bank")
    clients = commands.add_parser("list-clients", help="list the app clients of a bank")
    unmap = commands.add_parser("unmap-client", help="remove an app client's mapping")
    for sub in (create, listing, revoke, mapping, clients, unmap):
        sub.add_argument("--bank", required=True,
                         help="the bank id: 1-40 of a-z0-9- (a new id creates the bank)")
    revoke.add_argument("--key-id", required=True, help="the key's id, as `list` shows it")
    for sub in (mapping, unmap):
        sub.add_argument("--client-id", required=True,
                         help="the app client's id (Cognito's ClientId)")
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit 0 on success, 1 when there is no such key to revoke, 2 on a usage or store error.
    The store used is named first, on stderr: a listing on stdout stays rows only."""
    args = _parser().parse_args(argv)
    out, err = out or sys.stdout, err or sys.stderr
    try:
        store = open_store(load_settings(env))
        err.write(f"store: {store.describe()}\n")
        if args.command == "create":
            key, record = create_key(store, args.bank)
            out.write(f"bank:   {record.bank}\nkey id: {record.key_id}\nkey:    {key}\n"
                      "This key is shown only once; only its hash is stored.\n")
        elif args.command == "list":
            records = list_keys(store, args.bank)
            for record in records:
                status = "revoked" if record.revoked else "active"
                out.write(f"{record.key_id}\t{record.created_at}\t{status}\n")
            if not records:
                out.write(f"bank {args.bank} has no keys\n")
        elif args.command in ("map-client", "list-clients", "unmap-client"):
            return _clients(store, args, out, err)
        elif not revoke_key(store, args.bank, args.key_id):
            err.write(f"error: bank {args.bank} has no key {args.key_id}\n")
            return 1
        else:
            out.write(f"revoked key {args.key_id} of bank {args.bank}\n")
    except ValidationError as exc:
        details = "; ".join(f"{d.field} {d.message}" for d in exc.details)
        err.write(f"error: {exc.message}: {details}\n")
        return 2
    except (ConfigError, StoreError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    return 0


def _clients(store: KeyStore, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The app-client subcommands: 0 done, 1 refused (mapped elsewhere, or not mapped)."""
    if args.command == "list-clients":
        records = list_clients(store, args.bank)
        for record in records:
            out.write(f"{record.client_id}\t{record.created_at}\n")
        if not records:
            out.write(f"bank {args.bank} has no app clients\n")
        return 0
    if args.command == "unmap-client":
        if not unmap_client(store, args.bank, args.client_id):
            err.write(f"error: app client {args.client_id} is not mapped to bank "
                             f"{args.bank}\n")
            return 1
        out.write(f"unmapped app client {args.client_id} from bank {args.bank}\n")
        return 0
    record, made = map_client(store, args.bank, args.client_id)
    if record.bank != args.bank:
        err.write(f"error: app client {args.client_id} is mapped to bank {record.bank}; "
                         "unmap it there first\n")
        return 1
    out.write(f"mapped app client {record.client_id} to bank {record.bank}"
              f"{'' if made else ' (it already was)'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
