"""Box ↔ hub synchronisation: the outbox lanes (sans-I/O core) and syncd's shell."""
