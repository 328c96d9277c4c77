"""The minion side: the module API, the loader, the dispatcher, jobs, ACLs and both interfaces."""
