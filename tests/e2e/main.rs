//! End-to-end tests: the real `sluice` binary, started on free ports, driven over HTTP.

mod harness;

mod api_contract;
mod errors;
mod gateway;
mod governance;
mod limits;
mod monitoring;
mod observability;
mod request_log;
mod resilience;
mod sdk;
mod split;
mod tracing;
mod usage_ledger;
