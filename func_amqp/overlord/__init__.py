"""The overlord side: func's `Overlord` API over AMQP (QMF) or func's XML-RPC, and the `func` CLI.

    from func_amqp.overlord.client import Overlord
    Overlord("web*", transport="amqp").service.status("httpd")   # {"web1": 0, "web2": 0}
"""
