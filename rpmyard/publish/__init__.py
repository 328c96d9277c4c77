"""Publishing: turning result directories into dnf repositories (repodata, .repo files)."""
