"""QMF roles (agent, console, broker) on the AM2 codec. Built in a later issue."""
