"""func's facts: what a minion says about itself, and the queries that target minions by it.

`query` is shared by both sides (an overlord builds and sends a query, a minion reads and
evaluates it); `fact_module` is the base class of fact modules, `registry` loads them on the
minion (`modules/` and the folders of `facts_dirs`), and the `fact` func module lists and calls them.
"""
