"""`python -m tests.support.writer URL NAME COUNT REGION...`: one writer process of many.

Declares and clears on its own regions through its own store connection and engine, as
a writer on another machine would, and prints each acknowledged (seq, alert id, type) as a
JSON line. Used to show that seq stays gap-free and in commit order across writers."""

from __future__ import annotations

import asyncio
import sys

import orjson

from tryvoha.data import region_tree
from tryvoha.domain.alerts import AlertId
from tryvoha.domain.commands import ClearAlert, Declare
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.engine import Engine
from tryvoha.store import open_store


async def main(url: str, name: str, count: int, regions: list[str]) -> None:
    store = open_store(url)
    await store.open()
    try:
        engine = await Engine.load(store, region_tree())
        principal = Principal(name, Role.ISSUER, (RegionId("UA"),))
        print("ready", flush=True)
        sys.stdin.readline()  # all writers start together
        for n in range(count):
            region = RegionId(regions[n % len(regions)])
            declared = await engine.execute(Declare((region,)), principal)
            alert_id = orjson.loads(declared.body)["alerts"][0]["id"]
            cleared = await engine.execute(ClearAlert(AlertId(alert_id)), principal)
            for result in (declared, cleared):
                for c in result.committed:
                    line = {"seq": c.event.seq, "alert": alert_id, "type": c.event.type.value}
                    print(orjson.dumps(line).decode(), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    url, name, count, *regions = sys.argv[1:]
    asyncio.run(main(url, name, int(count), regions))
