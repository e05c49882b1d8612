//! `serve --watch`: reinstall an adapter of the plugins folder when its files change.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;

/// Polls the plugins folder every half second and reinstalls the packages whose
/// component or manifest changed. Polling keeps this dependency-free and works on every
/// file system, including network mounts and editors that replace files.
pub fn spawn(app: Arc<App>) -> anyhow::Result<()> {
    let dir = app.config.plugins_dir.clone();
    tracing::info!(dir = %dir.display(), "watching the plugins folder");
    tokio::spawn(async move {
        let mut seen = snapshot(&dir);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let now = snapshot(&dir);
            if now != seen {
                // Let a writer finish before reading.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let now = snapshot(&dir);
                tracing::info!(dir = %dir.display(), "plugins folder changed; reinstalling");
                for refusal in app.plugins.install_folder(&dir, crate::plugins::lifecycle::Source::Watch).await {
                    tracing::warn!(file = %refusal.file, reason = %refusal.reason, "watch: adapter refused");
                }
                seen = now;
            }
        }
    });
    Ok(())
}

fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, std::time::SystemTime, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.modified().ok()?, meta.len()))
        })
        .collect();
    files.sort();
    files
}
