"""func over QMF: minion, overlord, CLI. Built in a later issue."""
