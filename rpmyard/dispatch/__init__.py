"""Headhunter: a generic task dispatcher.

It queues tasks of named kinds, hands them to workers that advertise they can run them, keeps
leases with heartbeats, retries on other hosts and relays cancels. It knows nothing of RPM: the
kinds (``rpm-build``, ...) are plugins registered by the rest of the package.
"""
