//! Outbound HTTP: the egress guard ([`EgressPolicy`]), the `http` probe
//! and the webhook and Slack notifiers. Every request is made by a reqwest
//! client that resolves names through [`GuardedResolver`], follows no
//! redirect on its own and ignores proxy settings from the environment.

mod egress;

pub use egress::{
    AddrClass, EgressError, EgressPolicy, GuardedResolver, NameResolver, StaticResolver,
    SystemResolver, classify,
};
