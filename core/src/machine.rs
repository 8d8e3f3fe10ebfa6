//! The shape every sans-IO machine here shares, so one driver can run them all.

use crate::command::{Command, Input};
use crate::event::Event;
use crate::types::Timestamp;

/// quinn-proto style: commands out, inputs in, a deadline, events.
pub trait Machine {
    fn poll_command(&mut self) -> Option<Command>;
    fn handle_input(&mut self, now: Timestamp, input: Input);
    fn poll_timeout(&self) -> Option<Timestamp>;
    fn handle_timeout(&mut self, now: Timestamp);
    fn poll_event(&mut self) -> Option<Event>;
    /// No more commands will come: the outcome is ready.
    fn is_done(&self) -> bool;
    /// The driver found the machine waiting for nothing: no command, no deadline and no open
    /// subscription. It must end now (an attach fails and rolls back, SPEC A15) rather than
    /// leave its caller without an outcome.
    fn handle_stall(&mut self, now: Timestamp);
    /// Whether to build events at all (off when nobody listens).
    fn set_events(&mut self, enabled: bool);
}

macro_rules! impl_machine {
    ($ty:ty, $done:expr) => {
        impl $crate::machine::Machine for $ty {
            fn poll_command(&mut self) -> Option<$crate::command::Command> {
                <$ty>::poll_command(self)
            }
            fn handle_input(
                &mut self,
                now: $crate::types::Timestamp,
                input: $crate::command::Input,
            ) {
                <$ty>::handle_input(self, now, input)
            }
            fn poll_timeout(&self) -> Option<$crate::types::Timestamp> {
                <$ty>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: $crate::types::Timestamp) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_event(&mut self) -> Option<$crate::event::Event> {
                <$ty>::poll_event(self)
            }
            fn set_events(&mut self, enabled: bool) {
                <$ty>::set_events(self, enabled)
            }
            fn handle_stall(&mut self, now: $crate::types::Timestamp) {
                <$ty>::handle_stall(self, now)
            }
            fn is_done(&self) -> bool {
                let done: fn(&$ty) -> bool = $done;
                done(self)
            }
        }
    };
}

impl_machine!(crate::attach::Attach, |a| a.outcome().is_some());
impl_machine!(crate::announce::Announcer, |a| a.is_finished());
impl_machine!(crate::detach::Detach, |d| d.outcome().is_some()
    || d.deferred_delete().is_some());
impl_machine!(crate::route_via::RouteVia, |r| r.outcome().is_some());
