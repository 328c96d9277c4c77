"""The RPM build domain: projects, builds, chroots, their states and where their results live."""
