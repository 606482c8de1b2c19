//! The store conformance suite against the reference in-memory store.

healthcore::store_conformance!(
    memory,
    healthcore::memory::InMemoryStore::new(),
    caps = healthcore::store::Capabilities::NONE
        .claims(true)
        .check_counts(true)
);
