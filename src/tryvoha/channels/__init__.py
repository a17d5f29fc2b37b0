"""Channels: the ways an alert reaches people and machines that hold no stream open
(webhooks, MQTT, Telegram, web push). Each delivers every event, in order, from durable
state in the store: a cursor over the log per destination, advanced only after the
destination acknowledged, and a lease so that one process delivers a channel at a time.

- `lease.py`: hold a channel's lease in the store and run its delivery while holding it.
- `source.py`: the events after a cursor, from the process's memory or from the log.

A channel never holds a write back: it reads what was committed, after the fact.
"""
