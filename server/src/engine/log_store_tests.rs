use super::*;
use futures::StreamExt;

async fn collect(store: &Arc<LogStore>, id: i64, after: u64) -> Vec<LogLine> {
    collect_with_end(store, id, after).await.0
}

async fn collect_with_end(store: &Arc<LogStore>, id: i64, after: u64) -> (Vec<LogLine>, Option<LogEvent>) {
    let mut out = Vec::new();
    let mut end = None;
    let mut s = std::pin::pin!(store.read(id, after));
    while let Some(event) = s.next().await {
        match event.unwrap() {
            LogEvent::Lines(batch) => out.extend(batch),
            e @ LogEvent::End { .. } => end = Some(e),
        }
    }
    (out, end)
}

fn numbers(lines: &[LogLine]) -> Vec<u64> {
    lines.iter().map(LogLine::number).collect()
}

#[tokio::test]
async fn finished_logs_read_back_numbered_and_resume_after_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let mut w = store.create(7, 1 << 20).unwrap();
    w.push(LineKind::Section, "setup");
    w.push(LineKind::Command, "make");
    w.push(LineKind::Output, "a b  c\r");
    w.push(LineKind::Notice, "two\nlines");
    w.finish(BuildStatus::Success).unwrap();

    let lines = collect(&store, 7, 0).await;
    let got: Vec<_> = lines.iter().map(|l| (l.number(), l.kind(), l.text())).collect();
    assert_eq!(
        got,
        [
            (1, LineKind::Section, "setup"),
            (2, LineKind::Command, "make"),
            (3, LineKind::Output, "a b  c\r"),
            (4, LineKind::Notice, "two"),
            (5, LineKind::Notice, "lines"),
        ]
    );
    // Times are milliseconds since the log began, not Unix times.
    assert!(lines.iter().all(|l| (0..60_000).contains(&l.ts())), "{lines:?}");
    let tail = collect(&store, 7, 3).await;
    assert_eq!(numbers(&tail), [4, 5]);
}

#[tokio::test]
async fn a_late_subscriber_sees_every_line_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    store.expect(1);
    // A reader that subscribes before the build starts.
    let early = tokio::spawn({
        let store = store.clone();
        async move { collect(&store, 1, 0).await }
    });
    let mut w = store.create(1, 1 << 30).unwrap();
    let mut late = None;
    for i in 1..=10_000u32 {
        w.push(LineKind::Output, &format!("line {i}"));
        if i % 7 == 0 {
            w.flush().unwrap();
            tokio::task::yield_now().await;
        }
        if i == 5_000 {
            let store = store.clone();
            late = Some(tokio::spawn(async move { collect(&store, 1, 0).await }));
        }
    }
    w.finish(BuildStatus::Success).unwrap();
    for reader in [early, late.unwrap()] {
        let lines = reader.await.unwrap();
        assert_eq!(lines.len(), 10_000);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l.number(), i as u64 + 1);
            assert_eq!(l.text(), format!("line {}", i + 1));
        }
    }
}

#[tokio::test]
async fn batches_are_bounded_in_bytes_as_well_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let mut w = store.create(2, 1 << 30).unwrap();
    let big = "x".repeat(64 * 1024);
    for _ in 0..100 {
        w.push(LineKind::Output, &big);
    }
    w.finish(BuildStatus::Success).unwrap();
    let mut s = std::pin::pin!(store.read(2, 0));
    let mut total = 0;
    while let Some(event) = s.next().await {
        if let LogEvent::Lines(batch) = event.unwrap() {
            let bytes: usize = batch.iter().map(|l| l.text().len()).sum();
            assert!(bytes <= 320 * 1024, "a batch of {bytes} bytes");
            total += batch.len();
        }
    }
    assert_eq!(total, 100);
}

#[tokio::test]
async fn a_resume_starts_at_the_index_not_at_the_start_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let mut w = store.create(5, 1 << 30).unwrap();
    for i in 1..=5_000u32 {
        w.push(LineKind::Output, &format!("line {i}"));
    }
    w.finish(BuildStatus::Success).unwrap();
    // Damage the first lines' records (their newlines too): a reader that scanned from byte 0
    // would number every later line wrongly; one that starts at a checkpoint never reads them.
    let path = store.path(5);
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[20..2_000] {
        *b = b'#';
    }
    std::fs::write(&path, &bytes).unwrap();
    let lines = collect(&store, 5, 4_200).await;
    assert_eq!(
        lines.first().map(|l| (l.number(), l.text())),
        Some((4_201, "line 4201"))
    );
    assert_eq!(lines.len(), 800);
    let window = store.window(5, Some(3_000), None, 3).await.unwrap();
    assert_eq!(
        window.lines.iter().map(|l| l.text()).collect::<Vec<_>>(),
        ["line 3000", "line 3001", "line 3002"]
    );
    assert_eq!((window.last, window.next, window.done), (5_000, Some(3_003), true));
}

#[tokio::test]
async fn the_tail_window_of_a_running_log_and_the_failing_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    store.expect(6);
    let mut w = store.create(6, 1 << 30).unwrap();
    w.push(LineKind::Section, "test");
    w.push(LineKind::Command, "cargo test");
    for i in 1..=3_000u32 {
        w.push(LineKind::Output, &format!("out {i}"));
    }
    w.flush().unwrap();
    let running = store.window(6, None, Some(5), 100).await.unwrap();
    assert_eq!(numbers(&running.lines), [2998, 2999, 3000, 3001, 3002]);
    assert!(!running.done);
    assert_eq!(running.sections.len(), 1);
    assert!(running.failure.is_none());
    w.push(LineKind::Notice, "`cargo test` exited with code 101 after 2s");
    w.finish(BuildStatus::Failure).unwrap();
    let done = store.window(6, None, Some(5), 100).await.unwrap();
    assert_eq!(done.status, Some(BuildStatus::Failure));
    let failure = done.failure.expect("a failure summary");
    assert_eq!(failure.section.as_deref(), Some("test"));
    assert_eq!((failure.command.as_str(), failure.command_line), ("cargo test", 2));
    assert_eq!(failure.lines.len() as u64, FAILURE_LINES);
    assert_eq!(
        failure.lines.last().map(|l| l.text()),
        Some("out 3000"),
        "its output, not the notice"
    );
}

#[tokio::test]
async fn a_log_over_its_limit_keeps_its_beginning_and_its_end_with_true_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let limit = 40_000;
    let mut w = store.create(3, limit).unwrap();
    for i in 1..=20_000u32 {
        w.push(LineKind::Output, &format!("output line number {i}"));
        if i % 100 == 0 {
            w.flush().unwrap();
        }
    }
    w.push(LineKind::Notice, "verdict");
    assert_eq!(w.lines(), 20_001);
    w.finish(BuildStatus::Success).unwrap();
    let size = std::fs::metadata(store.path(3)).unwrap().len();
    assert!(
        size <= limit + limit / 8 + 200,
        "{size} bytes kept for a limit of {limit}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "only the log and its index are left"
    );
    let lines = collect(&store, 3, 0).await;
    assert_eq!(lines[0].text(), "output line number 1");
    assert_eq!(lines.last().map(|l| (l.number(), l.text())), Some((20_001, "verdict")));
    // One marker stands for the lines left out; every kept line has its own number.
    let markers: Vec<_> = lines.iter().filter(|l| l.text().contains("left out here")).collect();
    assert_eq!(markers.len(), 1, "{markers:?}");
    let at = lines.iter().position(|l| l.text().contains("left out here")).unwrap();
    let (marker, after) = (&lines[at], &lines[at + 1]);
    assert_eq!(lines[at - 1].number() + 1, marker.number());
    let skipped = after.number() - marker.number();
    assert!(
        marker.text().starts_with(&format!("{skipped} lines (")),
        "{}",
        marker.text()
    );
    for l in lines.iter().filter(|l| l.kind() == LineKind::Output) {
        assert_eq!(l.text(), format!("output line number {}", l.number()));
    }
    // The head is about a quarter of the limit, the tail three quarters.
    let head_bytes: usize = lines[..at].iter().map(|l| l.text().len() + 10).sum();
    assert!(head_bytes < limit as usize / 3, "{head_bytes}");
    let window = store.window(3, None, Some(1), 10).await.unwrap();
    assert_eq!(window.gaps.len(), 1);
    assert_eq!(window.gaps[0].at, marker.number());
}

#[tokio::test]
async fn a_restart_puts_a_kept_tail_back_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let mut w = store.create(8, 20_000).unwrap();
    for i in 1..=5_000u32 {
        w.push(LineKind::Output, &format!("output line number {i}"));
        w.flush().unwrap();
    }
    // The process dies: the writer is never finished or dropped.
    std::mem::forget(w);
    let store = LogStore::new(dir.path()).unwrap();
    store.conclude(8, "the server restarted during the build", BuildStatus::Error);
    let (lines, end) = collect_with_end(&store, 8, 0).await;
    let last_output = lines.iter().rev().find(|l| l.kind() == LineKind::Output).unwrap();
    assert_eq!(
        (last_output.number(), last_output.text()),
        (5_000, "output line number 5000")
    );
    assert_eq!(lines.last().map(|l| l.number()), Some(5_001));
    assert!(matches!(
        end,
        Some(LogEvent::End {
            status: Some(BuildStatus::Error),
            lines: 5_001
        })
    ));
}

#[tokio::test]
async fn readers_of_an_abandoned_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    store.expect(9);
    let reader = tokio::spawn({
        let store = store.clone();
        async move { collect_with_end(&store, 9, 0).await }
    });
    tokio::task::yield_now().await;
    store.conclude(9, "canceled before it started", BuildStatus::Canceled);
    let (lines, end) = reader.await.unwrap();
    assert_eq!(
        lines.iter().map(|l| l.text()).collect::<Vec<_>>(),
        ["canceled before it started"]
    );
    assert_eq!(
        end,
        Some(LogEvent::End {
            status: Some(BuildStatus::Canceled),
            lines: 1
        })
    );
}

#[tokio::test]
async fn the_verdict_travels_with_the_log_to_live_and_late_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    store.expect(4);
    let live = tokio::spawn({
        let store = store.clone();
        async move { collect_with_end(&store, 4, 0).await.1 }
    });
    let mut w = store.create(4, 1 << 20).unwrap();
    w.push(LineKind::Output, "ok");
    w.finish(BuildStatus::Failure).unwrap();
    let ended = Some(LogEvent::End {
        status: Some(BuildStatus::Failure),
        lines: 1,
    });
    assert_eq!(live.await.unwrap(), ended);
    // A reader of the finished file learns the verdict from the file alone.
    assert_eq!(collect_with_end(&store, 4, 0).await.1, ended);
    // A restart's conclusion is appended after what the job wrote.
    store.conclude(4, "the server restarted during the build", BuildStatus::Error);
    let (lines, end) = collect_with_end(&store, 4, 0).await;
    assert_eq!(lines.len(), 2);
    assert!(matches!(
        end,
        Some(LogEvent::End {
            status: Some(BuildStatus::Error),
            lines: 2
        })
    ));
}

#[tokio::test]
async fn logs_written_before_begin_records_still_read_with_times_from_their_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    let mut buf = Vec::new();
    encode_line(&mut buf, 1_700_000_000_000, LineKind::Section, "test");
    encode_line(&mut buf, 1_700_000_002_500, LineKind::Output, "ok");
    encode_verdict(&mut buf, 1_700_000_003_000, BuildStatus::Success);
    std::fs::write(store.path(11), &buf).unwrap();
    let lines = collect(&store, 11, 0).await;
    assert_eq!(lines.iter().map(|l| l.ts()).collect::<Vec<_>>(), [0, 2_500]);
    let window = store.window(11, None, Some(10), 10).await.unwrap();
    assert_eq!(window.started_at, Some(1_700_000_000_000));
    assert_eq!(window.status, Some(BuildStatus::Success));
}

/// A log read through a FIFO blocks its reader until someone writes: the other tasks of a
/// single-threaded runtime must go on meanwhile (reads run on blocking threads).
#[tokio::test(flavor = "current_thread")]
async fn file_reads_do_not_block_the_async_workers() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path()).unwrap();
    store.expect(12);
    let mut w = store.create(12, 1 << 20).unwrap();
    // Readers open the log's path anew: put a FIFO there (the writer keeps its own file).
    let path = store.path(12);
    std::fs::remove_file(&path).unwrap();
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    w.push(LineKind::Output, "hello");
    w.flush().unwrap();
    let (alive_tx, alive_rx) = std::sync::mpsc::channel::<()>();
    let feeder = std::thread::spawn({
        let path = path.clone();
        move || {
            // Waits for the runtime to show it is alive, and then (or after 10 s) unblocks the reader.
            let alive = alive_rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok();
            let mut f = OpenOptions::new().write(true).open(&path).unwrap();
            let mut buf = Vec::new();
            encode_begin(&mut buf, 0);
            encode_line(&mut buf, 1, LineKind::Output, "hello");
            let _ = f.write_all(&buf);
            alive
        }
    });
    let reader = tokio::spawn({
        let store = store.clone();
        async move {
            let mut s = std::pin::pin!(store.read(12, 0));
            s.next().await.map(|_| ())
        }
    });
    tokio::spawn(async move {
        let _ = alive_tx.send(());
    })
    .await
    .unwrap();
    let read = reader.await.unwrap();
    drop(w);
    assert!(feeder.join().unwrap(), "the runtime was blocked by a file read");
    assert!(read.is_some(), "the reader got an answer");
}
