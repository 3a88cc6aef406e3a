"""The registry domain: records, health semantics and the SQLite and etcd backends."""
