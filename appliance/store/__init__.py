"""box.db: the one truth on the box (SQLite, WAL, versioned migrations, outbox)."""

from appliance.store.database import StoreError, connect, joined_transaction, open_store, transaction
from appliance.store.outbox import LANES, OutboxRecord, append, delete_upto, fetch_batch, pending

__all__ = [
    "LANES", "OutboxRecord", "StoreError", "append", "connect", "delete_upto", "fetch_batch",
    "joined_transaction", "open_store", "pending", "transaction",
]
