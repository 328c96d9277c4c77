"""The `rpmyard` command: serve, admin commands (users, chroots)."""
