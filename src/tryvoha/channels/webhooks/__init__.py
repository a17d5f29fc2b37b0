"""Webhooks: every matching event POSTed to each subscribed endpoint, signed per the
Standard Webhooks spec, in seq order, from durable state (docs/webhooks.md).

- `targets.py`: which URLs may be sent to (http/https, public addresses), checked again
  at each attempt.
- `window.py`: the events after a cursor, looked at once for every endpoint.
- `endpoint.py`: one endpoint's place in the log and what it has yet to record.
- `courier.py`: the delivery, in the one process holding the `webhooks` lease.
- `channel.py`: what every serving process runs: the lease keeper, when there is any
  subscription at all.
- `admin.py`: the subscriptions' operations behind the admin API.
"""
