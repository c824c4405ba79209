//! The spill file: usage events the ledger has not acknowledged, on disk, so that neither a long
//! control-plane outage nor a data-plane restart during one loses them.
//!
//! One JSON [`UsageEvent`] per line, append-only, written by the reporter task alone. The task
//! reads it back in batches from an offset it keeps in memory and deletes the file once every
//! line has been delivered. A restart replays the file from its start: lines delivered before
//! the restart are sent again, which the ledger ignores (idempotent by request id). A line torn
//! by a crash is skipped.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};

use super::UsageEvent;
use super::reporter::count_dropped;

pub(super) struct SpillFile {
    path: PathBuf,
    /// Bytes in the file.
    len: u64,
    /// Bytes already read back into batches.
    read: u64,
}

impl SpillFile {
    /// The spill file at `path`; one left by an earlier run is replayed from its start.
    pub(super) async fn open(path: PathBuf) -> io::Result<SpillFile> {
        let mut spill = SpillFile {
            path,
            len: 0,
            read: 0,
        };
        match tokio::fs::metadata(&spill.path).await {
            Ok(m) => spill.len = m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(spill),
            Err(e) => return Err(e),
        }
        if spill.len > 0 && !spill.ends_with_newline().await? {
            // A write torn by a crash: end its line so the next append starts a clean one.
            spill.write(b"\n").await?;
        }
        if spill.len > 0 {
            tracing::info!(file = %spill.path.display(), bytes = spill.len, "replaying usage events spilled by an earlier run");
        }
        Ok(spill)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether some lines have not been read back yet.
    pub(super) fn has_unread(&self) -> bool {
        self.read < self.len
    }

    pub(super) fn unread_bytes(&self) -> u64 {
        self.len - self.read
    }

    /// Appends `events` and syncs them to disk. On an error nothing counts as written.
    pub(super) async fn append<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a UsageEvent>,
    ) -> io::Result<usize> {
        let mut buf = Vec::new();
        let mut n = 0;
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
            n += 1;
        }
        if n > 0 {
            self.write(&buf).await?;
        }
        Ok(n)
    }

    /// Reads back up to `max` events after the last ones read. Unparsable lines are skipped and
    /// counted as dropped.
    pub(super) async fn read_batch(&mut self, max: usize) -> io::Result<Vec<UsageEvent>> {
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.seek(SeekFrom::Start(self.read)).await?;
        let mut reader = BufReader::new(file.take(self.len - self.read));
        let mut events = Vec::with_capacity(max.min(1024));
        let mut line = String::new();
        while events.len() < max {
            line.clear();
            let n = reader.read_line(&mut line).await?;
            if n == 0 {
                break;
            }
            self.read += n as u64;
            let text = line.trim_end();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str(text) {
                Ok(e) => events.push(e),
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "skipping a damaged line of the usage spill file");
                    count_dropped("corrupt_spill", 1);
                }
            }
        }
        Ok(events)
    }

    /// Everything read so far is in the ledger: once that is the whole file, delete it.
    pub(super) async fn delivered(&mut self) {
        if self.has_unread() {
            return;
        }
        match tokio::fs::remove_file(&self.path).await {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "spilled usage delivered; spill file removed");
                (self.len, self.read) = (0, 0);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (self.len, self.read) = (0, 0),
            // Kept: the next start replays it, which is harmless.
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "could not remove the delivered usage spill file")
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&self.path).await?;
        let written = async {
            file.write_all(bytes).await?;
            file.sync_data().await
        }
        .await;
        if let Err(e) = written {
            // Take back a partial write so the file holds whole lines only.
            let _ = file.set_len(self.len).await;
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    async fn ends_with_newline(&self) -> io::Result<bool> {
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.seek(SeekFrom::End(-1)).await?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last).await?;
        Ok(last[0] == b'\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> UsageEvent {
        UsageEvent {
            request_id: id.into(),
            at_unix_ms: 1_700_000_000_000,
            virtual_key_id: Some("vk".into()),
            team_id: None,
            customer_id: None,
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            cost_micros: 5,
        }
    }

    fn ids(events: &[UsageEvent]) -> Vec<&str> {
        events.iter().map(|e| e.request_id.as_str()).collect()
    }

    #[tokio::test]
    async fn appended_events_are_read_back_in_order_and_the_file_goes_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill.jsonl");
        let mut spill = SpillFile::open(path.clone()).await.unwrap();
        assert!(!spill.has_unread());
        let batch = [event("a"), event("b"), event("c")];
        assert_eq!(spill.append(&batch).await.unwrap(), 3);
        assert_eq!(ids(&spill.read_batch(2).await.unwrap()), ["a", "b"]);
        spill.delivered().await;
        assert!(path.exists(), "kept while lines are unread");
        spill.append([&event("d")]).await.unwrap();
        assert_eq!(ids(&spill.read_batch(10).await.unwrap()), ["c", "d"]);
        spill.delivered().await;
        assert!(!path.exists());
        assert!(!spill.has_unread());
    }

    #[tokio::test]
    async fn a_restart_replays_the_whole_file_and_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill.jsonl");
        let mut spill = SpillFile::open(path.clone()).await.unwrap();
        spill.append(&[event("a"), event("b")]).await.unwrap();
        spill.read_batch(1).await.unwrap();
        drop(spill);
        // A crash in the middle of a write.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, br#"{"request_id":"tor"#).unwrap();

        let mut spill = SpillFile::open(path.clone()).await.unwrap();
        spill.append([&event("c")]).await.unwrap();
        let replayed = spill.read_batch(10).await.unwrap();
        assert_eq!(ids(&replayed), ["a", "b", "c"]);
    }
}
