//! Sinks as an operator runs them: configured in the TOML, delivering
//! while the node is killed with -9, resuming after the restart.

mod common;

use common::Node;
use fluxkv_schemas::Encoding;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const WRITES: u64 = 20_000;

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fluxkv.toml");
    let toml = r#"
[sinks.audit]
kind = "file"
dir = "audit"
rotate_bytes = 262144
batch = { max_events = 50, linger_ms = 2 }
"#;
    std::fs::write(&path, toml).unwrap();
    path
}

/// seq -> how many times it was delivered, across all files.
fn delivered(dir: &Path) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    let Ok(files) = std::fs::read_dir(dir) else {
        return seen;
    };
    for file in files {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for line in text.lines() {
            // A line cut by the kill is not acknowledged: the restart
            // redelivers its event.
            if let Ok(event) = Encoding::Json.decode(line.as_bytes()) {
                *seen.entry(event.seq).or_insert(0) += 1;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_delivering_then_restart_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path());
    let config_arg = config.to_str().unwrap();
    let node = Node::start(&data, &["--config", config_arg, "--aof-fsync", "always"]);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut pipe = redis::pipe();
    for i in 0..WRITES {
        pipe.set(format!("key:{}", i % 1000), i).ignore();
    }
    pipe.query_async::<()>(&mut conn).await.unwrap();
    // Kill as soon as the sink has delivered some but not all.
    let audit = data.join("audit");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while delivered(&audit).len() < 1000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sink delivered nothing"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::task::spawn_blocking(move || node.kill_9())
        .await
        .unwrap();
    let before = delivered(&audit).len() as u64;

    let node = Node::start(&data, &["--config", config_arg]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = delivered(&audit);
        if seen.len() as u64 == WRITES {
            assert_eq!(
                seen.keys().copied().collect::<Vec<_>>(),
                (1..=WRITES).collect::<Vec<_>>()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {WRITES} delivered",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        before < WRITES,
        "the kill came after everything was delivered: nothing was tested"
    );
    drop(node);
}
