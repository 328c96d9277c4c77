"""func over QMF: the minion (`funcd`), the overlord API, the `func` CLI and a certmaster-style CA.

A func module keeps working with one changed import line:
`from func.minion.modules import func_module` becomes `from func_amqp.minion import func_module`.
"""
