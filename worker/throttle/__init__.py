"""The throttle: the scheduler of a credential's provider calls, its Python face (`scheduler.py`) over its Lua.

It knows limits (spacing, product windows, cards per order, Get Order calls per window, holds) and Redis, and
nothing of providers, orders, tasks or HTTP: it hands slots to RequestIds. It may import `config` (the limits'
settings) and the top of `worker` (errors, keys, the Lua loader). Its scripts are `lua/*.lua`, one per atomic
operation, each with the clock prelude of `worker/lua/_clock.lua`.
"""
