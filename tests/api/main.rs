//! The integration tests, as one test binary: linking each file as its own
//! binary would repeat the whole dependency graph fifteen times over (minutes
//! of linking and gigabytes of disk on a clean CI checkout). Each module is one
//! area of behaviour; `common` holds the shared helpers (a real `redis-server`
//! per test, mock gateways on loopback, the app on port 0). Only `sentry.rs`
//! stays a binary of its own, because the Sentry client is process-wide.

#[path = "../common/mod.rs"]
mod common;

mod adapters;
mod admin;
mod alerts;
mod catalog;
mod changes;
mod chaos;
mod cluster;
mod compatible;
mod connections;
mod consistency;
mod finding;
mod harness;
mod hostile;
mod instances;
mod memory;
mod openapi;
mod operators;
mod pages;
mod redaction;
mod redis_outage;
mod startup;
mod store;
mod swr;
mod tls;
mod unchanged;
mod unified;
mod warm_api;
mod webhooks;
