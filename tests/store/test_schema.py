"""The schema is Alembic's, on both stores: a new store is created, an older one is
upgraded only when asked (`tryvoha db upgrade`), a newer one is refused, and files made by
the numbered migrations before Alembic become the same schema as a new store."""

from __future__ import annotations

import sqlite3
import threading
from importlib import resources
from pathlib import Path

import pytest

from tests.support.log import UNDO_TO_0001, raw
from tests.support.postgres import in_thread
from tryvoha.store import SchemaError, open_store
from tryvoha.store.schema import HEAD, REVISIONS, SQLITE_USER_VERSION, State, inspect, upgrade
from tryvoha.store.sqlite_legacy import LEGACY

pytestmark = pytest.mark.anyio


def test_revisions_are_alembics_chain() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("tryvoha.store.migrations")))
    chain = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
    assert tuple(reversed(chain)) == REVISIONS


async def test_a_new_store_is_created_when_opened(store_kind: str, make_store_url) -> None:  # type: ignore[no-untyped-def]
    url = make_store_url()
    if store_kind == "postgresql":  # a database with no tables at all, not the template
        url = url.rsplit("/", 1)[0] + "/" + _empty_database(make_store_url)
    assert in_thread(inspect, url).state is State.EMPTY
    store = open_store(url)
    await store.open()
    await store.close()
    assert in_thread(inspect, url).state is State.CURRENT


def _empty_database(make_store_url) -> str:  # type: ignore[no-untyped-def]
    cluster = make_store_url.request.getfixturevalue("postgres")
    url = cluster.create_database()
    make_store_url.made.append(url)
    return str(url.rsplit("/", 1)[1])


async def test_an_older_or_newer_schema_is_refused_with_one_line(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    await store.close()
    raw(store_url, "UPDATE alembic_version SET version_num = 'ffff'")
    store = open_store(store_url)
    with pytest.raises(SchemaError, match="schema ffff, newer than this tryvoha knows"):
        await store.open()
    with pytest.raises(SchemaError, match="newer"):
        in_thread(upgrade, store_url)  # db upgrade never downgrades or guesses


async def test_an_older_revision_is_refused_until_db_upgrade(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    await store.close()
    for undo in UNDO_TO_0001:
        raw(store_url, undo)  # as revision 0001 left it
    raw(store_url, "UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(SchemaError, match=r"schema 0001, older .* tryvoha db upgrade --store"):
        await open_store(store_url).open()
    done = in_thread(upgrade, store_url)
    assert (done.before, done.steps) == ("0001", REVISIONS[1:])
    store = open_store(store_url)
    await store.open()  # and the new index is there to use
    assert await store.events_of_alerts(["none"]) == []
    await store.close()


def legacy_file(path: Path, version: int) -> str:
    """A file as tryvoha made it before Alembic, at numbered migration `version`."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in LEGACY[:version]:
        for statement in step:
            conn.execute(statement.replace("{epoch}", "0ld3p0ch"))
    conn.execute(f"PRAGMA user_version={version}")
    conn.execute("INSERT INTO events VALUES (1, 'alert.declared', 0, 'a', 'r', 'x', x'7b7d')")
    conn.close()
    return f"sqlite:///{path}"


def shape(url: str) -> dict[str, object]:
    """Tables with their columns and indexes with theirs: what queries depend on."""
    found: dict[str, object] = {}
    for (name,) in raw(url, "SELECT name FROM sqlite_master WHERE type = 'table'"):
        if name != "alembic_version":
            found[name] = [
                (r[1], r[2].upper(), r[5]) for r in raw(url, f"PRAGMA table_info({name})")
            ]
    for name, table in raw(url, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"):
        found[name] = (table, [r[2] for r in raw(url, f"PRAGMA index_info({name})")])
    for (name,) in raw(url, "SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        found[name] = "trigger"
    return found


@pytest.mark.parametrize("version", [1, 2, 3, 4])
async def test_a_file_from_the_numbered_migrations_upgrades_cleanly(
    tmp_path: Path, version: int
) -> None:
    url = legacy_file(tmp_path / "old.db", version)
    assert in_thread(inspect, url).revision == f"legacy-{version}"
    with pytest.raises(SchemaError, match="tryvoha db upgrade"):
        await open_store(url).open()  # serve refuses it until it is upgraded on purpose
    done = in_thread(upgrade, url)
    assert (done.before, done.after) == (f"legacy-{version}", HEAD)
    fresh = f"sqlite:///{tmp_path / 'new.db'}"
    in_thread(upgrade, fresh)
    assert shape(url) == shape(fresh)
    assert raw(url, "PRAGMA user_version") == [(SQLITE_USER_VERSION,)]  # old tryvoha refuses it
    assert raw(url, "SELECT seq, payload FROM events") == [(1, b"{}")]
    store = open_store(url)
    await store.open()
    assert store.epoch == ("0ld3p0ch" if version >= 2 else store.epoch)
    assert await store.last_seq() == 1
    await store.close()


def test_concurrent_upgrades_make_one_schema(store_kind: str, make_store_url) -> None:  # type: ignore[no-untyped-def]
    url = make_store_url("racing")
    if store_kind == "postgresql":
        url = url.rsplit("/", 1)[0] + "/" + _empty_database(make_store_url)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(upgrade(url))
        except Exception as e:  # reported below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(len(r.steps) for r in results) == [0, 0, len(REVISIONS)]  # type: ignore[attr-defined]
    assert inspect(url).state is State.CURRENT
    assert raw(url, "SELECT count(*) FROM meta WHERE key = 'epoch'") == [(1,)]
