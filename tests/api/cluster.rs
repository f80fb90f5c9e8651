//! The service on a real three-node Redis Cluster (`REDIS_CLUSTER_URLS`).

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_and_revalidates_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let a = MockGateway::start(&["a-new"]).await;
    let b = MockGateway::start(&["b1"]).await;
    let app = TestApp::builder()
        .env("REDIS_CLUSTER_URLS", &cluster.urls().join(","))
        .gateway("alpha", &a)
        .gateway("beta", &b)
        .spawn()
        .await;
    eventually(Duration::from_secs(20), "the cluster answers", || async {
        app.store().ping().await.is_ok()
    })
    .await;
    app.seed("alpha", stale_entry(&["a-old"])).await;

    let (status, headers, body) = app.get_json("/api/models").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-cache"], "MISS", "beta was cold");
    assert_eq!(ids(&body), ["a-old", "b1"]);
    eventually(Duration::from_secs(10), "alpha revalidated", || async {
        app.stored_ids("alpha").await == Some(vec!["a-new".into()])
    })
    .await;
    let (_, headers, body) = app.get_json("/api/models").await;
    assert_eq!(headers["x-cache"], "HIT");
    assert_eq!(ids(&body), ["a-new", "b1"]);
    assert_eq!((a.hits(), b.hits()), (1, 1));
    assert_eq!(app.get_json("/readyz").await.0, 200);
}
