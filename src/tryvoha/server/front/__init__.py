"""The HTTP front: the only HTTP server in a serving process.

- `connection.py`: one connection, sans I/O (h11 + websockets' protocol): bytes in,
  decisions out; every limit and deadline lives here, tested with bytes and a fake clock.
- `protocol.py`: the asyncio adapter that carries the decisions out (and the fan-out's sink).
- `asgi.py`: requests the hot-route table does not cover, run through the ASGI app.
- `wire.py`: the bytes of the answers the front writes itself.
- `runner.py`: the app's lifespan, the listening socket and a graceful stop.
"""
