//! Reads that end: at most so many bytes, by a deadline (SPEC C10: no input makes the plugin
//! hang or run out of memory). Used for the plugin's own stdin and for its children's output.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Why a bounded read or write stopped before the end of its data.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no end of input within {waited:?}")]
    Timeout { waited: Duration },
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads `source` to its end, failing once it holds more than `limit` bytes or `deadline`
/// passes. The descriptor may be blocking: every read waits for `poll` first.
pub fn read_to_end_bounded<R: Read + AsFd>(
    source: &mut R,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BoundedReadError> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(BoundedReadError::Timeout {
                waited: started.elapsed(),
            });
        }
        let timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(source.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => continue, // the deadline check above ends the loop
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(BoundedReadError::Io(e.into())),
        }
        match source.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len() + n > limit {
                    return Err(BoundedReadError::TooLarge { limit });
                }
                out.extend_from_slice(&chunk[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(BoundedReadError::Io(e)),
        }
    }
}

/// Writes all of `data` to `sink` unless `deadline` passes first (a reader that never reads
/// must not hold the writer forever). Whether it all went is the caller's to ignore or not.
pub fn write_all_bounded<W: Write + AsFd>(
    sink: &mut W,
    mut data: &[u8],
    deadline: Instant,
) -> Result<(), BoundedReadError> {
    let started = Instant::now();
    while !data.is_empty() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(BoundedReadError::Timeout {
                waited: started.elapsed(),
            });
        }
        let timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(sink.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(BoundedReadError::Io(e.into())),
        }
        // Blocks for at most one pipe buffer, which poll said has room.
        let chunk = &data[..data.len().min(PIPE_ATOMIC)];
        match sink.write(chunk) {
            Ok(n) => data = &data[n..],
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(BoundedReadError::Io(e)),
        }
    }
    Ok(())
}

/// PIPE_BUF: a write of at most this many bytes to a pipe that poll reported writable does
/// not block.
pub const PIPE_ATOMIC: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    // SPEC: C10 (no input makes it hang)
    #[test]
    fn a_writer_that_never_closes_times_out() {
        let (mut reader, mut writer) = UnixStream::pair().unwrap();
        writer.write_all(b"{\"cniVersion\"").unwrap();
        let started = Instant::now();
        let e = read_to_end_bounded(
            &mut reader,
            1024,
            Instant::now() + Duration::from_millis(150),
        )
        .unwrap_err();
        assert!(matches!(e, BoundedReadError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(writer);
    }

    // SPEC: C10 (bounded reads)
    #[test]
    fn input_over_the_limit_is_refused_and_input_at_the_limit_is_read() {
        let (mut reader, mut writer) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let _ = writer.write_all(&[b'x'; 4096]);
        });
        let e = read_to_end_bounded(&mut reader, 4095, Instant::now() + Duration::from_secs(5))
            .unwrap_err();
        assert!(
            matches!(e, BoundedReadError::TooLarge { limit: 4095 }),
            "{e}"
        );

        let (mut reader, mut writer) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let _ = writer.write_all(&[b'y'; 4096]);
        });
        let all = read_to_end_bounded(&mut reader, 4096, Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(all.len(), 4096);
    }
}
