"""rpmyard: a self-hosted RPM build service that speaks Copr's API.

Folders are the parts of the system: ``frontend`` (HTTP API and pages), ``dispatch`` (the generic
task queue, bus and worker runtime), ``builds`` (the RPM domain: projects, builds, chroots),
``builder`` (the sandboxed rpmbuild task), ``publish`` (repositories), ``cli`` (commands) and ``db``.
"""

__version__ = "0.1.0"
