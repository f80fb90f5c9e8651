//! The test helpers themselves: what a test starts is what it talks to.

use crate::common;

use common::RedisServer;
use common::redis_server::answering_pid;

#[test]
fn a_started_redis_server_is_the_one_answering_on_its_port() {
    let server = RedisServer::start();
    let pid = answering_pid(server.port, &[]).expect("the server answers");
    assert_eq!(Some(pid), server.pid());
}

#[test]
fn a_stray_server_on_the_port_is_never_taken_for_the_one_started() {
    let stray = RedisServer::start();
    let port = stray.port;
    let started = std::panic::catch_unwind(move || RedisServer::start_on(port));
    assert!(
        started.is_err(),
        "a second server on port {port} was taken as started, though the stray one answers"
    );
}
