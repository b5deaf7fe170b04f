"""The ACD: queues, agents, strategies and the queue log (docs/acd.md).

``model`` (config, priorities, agent states), ``strategies`` (who gets the call),
``engine`` (the sans-I/O AcdEngine, its ``actions`` and ``events``; read-only ``views``),
``missed`` (callback tasks for missed calls), ``metrics`` and ``erlang`` (figures).
"""
