"""MQTT ingest: box outbox batches → hub database → acks (CONTRACTS §6).

`core` decides (sans I/O), `store` writes, `worker` is the thin paho shell.
"""
