"""Use cases: what the web layer and the CLI ask for, on top of db and pubsub."""
