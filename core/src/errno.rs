//! Linux errno values the core must tell apart, without linking libc.

use std::fmt;

/// A Linux errno. The core only compares them; backends fill them in from the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const EIO: Errno = Errno(5);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EBUSY: Errno = Errno(16);
    pub const EEXIST: Errno = Errno(17);
    pub const ENODEV: Errno = Errno(19);
    pub const ENOTDIR: Errno = Errno(20);
    pub const EISDIR: Errno = Errno(21);
    pub const EINVAL: Errno = Errno(22);
    pub const EROFS: Errno = Errno(30);
    pub const ERANGE: Errno = Errno(34);
    pub const EMSGSIZE: Errno = Errno(90);
    pub const EOPNOTSUPP: Errno = Errno(95);
    pub const EADDRNOTAVAIL: Errno = Errno(99);
    pub const ENETUNREACH: Errno = Errno(101);
    pub const ETIMEDOUT: Errno = Errno(110);
    pub const ESRCH: Errno = Errno(3);
    pub const ELOOP: Errno = Errno(40);
    pub const ENETDOWN: Errno = Errno(100);
    pub const EHOSTUNREACH: Errno = Errno(113);

    /// The short symbolic name, for messages (`file exists` style text is in [`Errno::describe`]).
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            5 => "EIO",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            16 => "EBUSY",
            17 => "EEXIST",
            19 => "ENODEV",
            20 => "ENOTDIR",
            21 => "EISDIR",
            22 => "EINVAL",
            30 => "EROFS",
            34 => "ERANGE",
            40 => "ELOOP",
            90 => "EMSGSIZE",
            95 => "EOPNOTSUPP",
            99 => "EADDRNOTAVAIL",
            100 => "ENETDOWN",
            101 => "ENETUNREACH",
            110 => "ETIMEDOUT",
            113 => "EHOSTUNREACH",
            _ => "E?",
        }
    }

    /// strerror-style text, as `ip` prints it.
    pub fn describe(self) -> &'static str {
        match self.0 {
            1 => "operation not permitted",
            2 => "no such file or directory",
            3 => "no such process",
            5 => "input/output error",
            11 => "resource temporarily unavailable",
            12 => "cannot allocate memory",
            13 => "permission denied",
            16 => "device or resource busy",
            17 => "file exists",
            19 => "no such device",
            20 => "not a directory",
            21 => "is a directory",
            22 => "invalid argument",
            30 => "read-only file system",
            34 => "numerical result out of range",
            40 => "too many levels of symbolic links",
            90 => "message too long",
            95 => "operation not supported",
            99 => "cannot assign requested address",
            100 => "network is down",
            101 => "network is unreachable",
            110 => "connection timed out",
            113 => "no route to host",
            _ => "unknown error",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.describe(), self.name())
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}
