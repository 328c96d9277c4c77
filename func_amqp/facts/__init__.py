"""func's facts: what a minion says about itself, and the queries that target minions by it.

`query` is the query tree and its wire form (built by an overlord, read back by a minion),
`evaluate` runs one against a minion's facts, `filter_text` reads the CLI's `--filter`;
`fact_module` is the base class of fact modules, `registry` loads them on the minion (`modules/`
and the folders of `facts_dirs`), and the `fact` func module lists and calls them.
"""
