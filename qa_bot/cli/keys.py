"""`qa-bot keys`: API keys with roles, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qa_bot.cli.common import app, err, load_settings, out, user_errors
from qa_bot.errors import QaBotError

keys_app = typer.Typer(
    help="API keys with roles (reader or admin) and a reader's groups; stored hashed."
)
app.add_typer(keys_app, name="keys")


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    role: Annotated[str, typer.Option(help="reader (ask, sources, feedback) or admin.")] = "reader",
    groups: Annotated[
        str,
        typer.Option(
            help="A reader's groups, comma-separated (hr,finance): it also reads the sources "
            "restricted to them (`qa-bot sources restrict`)."
        ),
    ] = "",
) -> None:
    """Make a key and print it once (only its hash is kept)."""
    from qa_bot.storage.keys import KeyStore
    from qa_bot.storage.restrictions import parse_groups

    with user_errors():
        if role not in ("reader", "admin"):
            raise QaBotError(f"Unknown role '{role}': use reader or admin.")
        member_of = parse_groups(groups)
        store = KeyStore(load_settings().data_path / "keys.json")
        key = store.add(name, role, member_of)  # type: ignore[arg-type]
    shown = f"{role} in {', '.join(sorted(member_of))}" if member_of else role
    err.print(f"Key for {escape(name)} ({escape(shown)}); it is shown only now:", highlight=False)
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key's name, role, groups and creation time (never the key)."""
    from qa_bot.storage.keys import KeyStore

    table = Table(title="API keys", title_justify="left")
    for column in ("name", "role", "groups", "created"):
        table.add_column(column)
    for key in KeyStore(load_settings().data_path / "keys.json").all():
        table.add_row(escape(key.name), key.role, ", ".join(key.groups), key.created)
    out.print(table)


@keys_app.command("remove")
def keys_remove(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key."""
    from qa_bot.storage.keys import KeyStore

    with user_errors():
        KeyStore(load_settings().data_path / "keys.json").remove(name)
    out.print(f"Removed the key {escape(name)}.", highlight=False)
