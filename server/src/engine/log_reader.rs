//! The reading half of the log store: one reader's place in a build's log, from the index's
//! checkpoint before the first line it wants to the verdict, waiting on the writer's progress.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sicuro_types::BuildStatus;
use tokio::sync::watch;

use super::super::log_cursor::{BATCH_BYTES, BATCH_LINES, Budget, Cursor};
use super::super::log_index::LogIndex;
use super::{LogEvent, Progress, blocking, file_len};

pub(super) struct ReadState {
    pub(super) path: PathBuf,
    pub(super) side: PathBuf,
    pub(super) cursor: Option<Cursor>,
    /// The live log's index, to find a place again after the file was cut back.
    pub(super) index: Option<Arc<Mutex<LogIndex>>>,
    pub(super) rx: Option<watch::Receiver<Progress>>,
    pub(super) epoch: u64,
    /// The first line not yet given out.
    pub(super) from: u64,
    /// The verdict, once announced by the writer.
    pub(super) status: Option<BuildStatus>,
    pub(super) finished: bool,
}

impl ReadState {
    /// The cursor at the checkpoint before the first line wanted (resuming costs what the rest
    /// costs, not what the log before it costs).
    async fn start(&mut self) -> io::Result<Cursor> {
        let (place, timing) = match &self.index {
            Some(index) => {
                let ix = index.lock().expect("log index");
                (ix.locate(self.from), ix.timing())
            }
            None => {
                let (path, side) = (self.path.clone(), self.side.clone());
                let ix = blocking(move || LogIndex::load_or_build(&path, &side)).await?;
                (ix.locate(self.from), ix.timing())
            }
        };
        Ok(Cursor::at(self.path.clone(), place, timing))
    }

    pub(super) async fn next_batch(&mut self) -> io::Result<Option<LogEvent>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let (limit, done, epoch) = match &mut self.rx {
                Some(rx) => {
                    let p = *rx.borrow_and_update();
                    self.status = self.status.or(p.status);
                    (p.bytes, p.done, p.epoch)
                }
                None => (file_len(&self.path)?, true, self.epoch),
            };
            let mut cursor = match self.cursor.take() {
                Some(c) => c,
                None => {
                    self.epoch = epoch;
                    self.start().await?
                }
            };
            if epoch != self.epoch {
                // The file was cut back or completed differently: find the next line again.
                self.epoch = epoch;
                if let Some(index) = &self.index {
                    let place = index.lock().expect("log index").locate(self.from);
                    cursor.reopen_at(place);
                }
            }
            if cursor.offset < limit {
                let budget = Budget {
                    from: self.from,
                    until: u64::MAX,
                    limit,
                    max_lines: BATCH_LINES,
                    max_bytes: BATCH_BYTES,
                };
                let (c, batch) = cursor.read_blocking(budget).await;
                self.cursor = Some(c);
                let batch = match batch {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                    b => b?,
                };
                if let Some(last) = batch.last() {
                    self.from = last.number() + 1;
                    return Ok(Some(LogEvent::Lines(batch)));
                }
                continue;
            }
            if done {
                self.finished = true;
                return Ok(Some(LogEvent::End {
                    status: cursor.status.or(self.status),
                    lines: cursor.next_line - 1,
                }));
            }
            self.cursor = Some(cursor);
            let rx = self.rx.as_mut().expect("live logs have a receiver");
            if rx.changed().await.is_err() {
                // The writer vanished without a final word: read what the file holds, then end.
                self.rx = None;
            }
        }
    }
}
