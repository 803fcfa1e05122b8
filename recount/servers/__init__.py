"""Real servers on loopback for machines and tests that have none: throwaway PostgreSQL and Redis
(`throwaway.py`), a throwaway Redis Cluster (`redis_cluster.py`), and a proxy that cuts a connection on demand
(`toggle_proxy.py`, the outages of the fault table and `recount local --chaos`)."""
