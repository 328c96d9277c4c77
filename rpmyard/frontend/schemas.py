"""The exact JSON shapes Copr's client reads (schema/schemas.py of Copr's frontend)."""

from __future__ import annotations

from typing import Any

from rpmyard.builds import states
from rpmyard.builds.layout import Layout
from rpmyard.builds.service import BuildService
from rpmyard.db.models import Build, BuildChroot, Package, Project
from rpmyard.publish.options import KEEP_BUILDS, remaining_days
from rpmyard.publish.usage import read_usage


def project_dict(p: Project, layout: Layout) -> dict[str, Any]:
    owner = p.owner.name
    return {
        "id": p.id,
        "name": p.name,
        "ownername": owner,
        "full_name": p.full_name,
        "homepage": p.homepage,
        "contact": p.contact,
        "description": p.description,
        "instructions": p.instructions,
        "devel_mode": p.devel_mode,
        "persistent": p.persistent,
        "unlisted_on_hp": p.unlisted_on_hp,
        "auto_prune": p.auto_prune,
        "chroot_repos": {c: layout.chroot_url(owner, p.name, c) for c in p.active_chroot_names()},
        "additional_repos": list(p.additional_repos or []),
        "enable_net": p.enable_net,
        "bootstrap": p.bootstrap,
        "isolation": p.isolation,
        "module_hotfixes": p.module_hotfixes,
        "appstream": p.appstream,
        "packit_forge_projects_allowed": list((p.options or {}).get("packit_forge_projects_allowed") or []),
        "follow_fedora_branching": p.follow_fedora_branching,
        "repo_priority": p.repo_priority,
        "storage": "backend",
        # rpmyard's repository lifecycle (rpmyard.publish): not in Copr's schema, ignored by its client.
        "storage_used_bytes": read_usage(layout.project_dir(owner, p.name)),
        "keep_builds": int((p.options or {}).get(KEEP_BUILDS) or 0),
        "delete_after_days": remaining_days(p),
    }


def build_dict(b: Build, layout: Layout) -> dict[str, Any]:
    p = b.project
    srpm_url = (layout.srpm_url(p.owner.name, p.name, b.id, b.srpm_name) if b.srpm_name
                else b.source_dict.get("url"))
    return {
        "id": b.id,
        "state": states.NAMES[BuildService.state(b)],
        "projectname": p.name,
        "ownername": p.owner.name,
        "repo_url": layout.project_url(p.owner.name, p.name),
        "source_package": {"name": b.pkg_name, "version": b.pkg_version, "url": srpm_url},
        "submitted_on": b.submitted_on,
        "started_on": b.started_on,
        "ended_on": b.ended_on,
        "submitter": b.submitter.name if b.submitter else None,
        "chroots": [bc.name for bc in b.chroots],
        "project_dirname": p.name,
        "is_background": b.is_background,
    }


def build_chroot_dict(bc: BuildChroot, layout: Layout) -> dict[str, Any]:
    b = bc.build
    p = b.project
    result_url = None
    if b.pkg_name and bc.state not in (states.WAITING, states.SKIPPED):
        result_url = layout.build_url(p.owner.name, p.name, bc.name, b.id, b.pkg_name)
    return {
        "name": bc.name,
        "state": states.NAMES[bc.state],
        "started_on": bc.started_on,
        "ended_on": bc.ended_on,
        "result_url": result_url,
    }


def package_dict(pkg: Package, project: Project, builds: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": pkg.id,
        "name": pkg.name,
        "ownername": project.owner.name,
        "projectname": project.name,
        "source_type": pkg.source_type,
        "source_dict": pkg.source_dict or {},
        "auto_rebuild": pkg.webhook_rebuild,
        "builds": builds,
    }
