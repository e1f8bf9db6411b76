//! Verification against the provider simulator and test doubles, over real HTTP on loopback.

mod verification {
    pub(crate) mod support;

    mod faults;
    mod outcomes;
    mod preamble;
    mod retries;
    mod server;
}
