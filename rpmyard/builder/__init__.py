"""Turning an uploaded SRPM into binary RPMs on this host.

Everything here treats the SRPM as hostile input: it is inspected without running any of its
code, and rebuilt only inside a bubblewrap sandbox that cannot see the service's data.
"""
