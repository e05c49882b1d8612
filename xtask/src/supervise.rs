//! The processes `cargo xtask run` starts, and stopping them all when it is asked to stop.
//!
//! SIGINT, SIGTERM and SIGHUP are caught (on a thread of `ctrlc`'s), so that the host and
//! the mock back-ends are stopped before xtask exits instead of being left running: a
//! signal to xtask alone must not leave a back-end listening for the next run to find.

use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a child has to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// The children started so far and whether a stop signal arrived.
pub struct Stop {
    signal: Mutex<Receiver<()>>,
    signalled: AtomicBool,
    children: Mutex<Vec<Entry>>,
}

struct Entry {
    name: String,
    process: std::process::Child,
    status: Option<ExitStatus>,
}

/// A child started by [`Stop::spawn`].
#[derive(Debug, Clone, Copy)]
pub struct Child(usize);

/// Why [`Stop::wait_any`] returned.
#[derive(Debug)]
pub enum Ended {
    /// SIGINT, SIGTERM or SIGHUP arrived.
    Signal,
    /// A child exited by itself: its name and status.
    Exited(String, ExitStatus),
}

impl Stop {
    /// Catches the stop signals from now on.
    pub fn on_signals() -> anyhow::Result<Stop> {
        let (tx, rx) = channel();
        ctrlc::set_handler(move || {
            let _ = tx.send(());
        })
        .context("failed to install the signal handler")?;
        Ok(Stop { signal: Mutex::new(rx), signalled: AtomicBool::new(false), children: Mutex::new(Vec::new()) })
    }

    /// Whether a stop signal has arrived (it stays so).
    pub fn signalled(&self) -> bool {
        if self.signal.lock().unwrap().try_recv().is_ok() {
            self.signalled.store(true, Ordering::SeqCst);
        }
        self.signalled.load(Ordering::SeqCst)
    }

    /// Starts `command` as a child that [`Stop::terminate_all`] stops.
    pub fn spawn(&self, name: &str, command: &mut Command) -> anyhow::Result<Child> {
        let process = command.spawn().with_context(|| format!("failed to start {name}"))?;
        let mut children = self.children.lock().unwrap();
        children.push(Entry { name: name.to_owned(), process, status: None });
        Ok(Child(children.len() - 1))
    }

    /// Waits for `child` to end, or stops it when a signal arrives first.
    pub fn finish(&self, child: &Child) -> anyhow::Result<()> {
        match self.wait_any(&[child]) {
            Ended::Signal => {
                self.terminate_all();
                bail!("interrupted");
            }
            Ended::Exited(_, status) if status.success() => Ok(()),
            Ended::Exited(name, status) => bail!("{name} failed ({status})"),
        }
    }

    /// The exit status of `child`, if it has exited.
    pub fn exited(&self, child: &Child) -> Option<ExitStatus> {
        let mut children = self.children.lock().unwrap();
        let entry = &mut children[child.0];
        if entry.status.is_none() {
            entry.status = entry.process.try_wait().ok().flatten();
        }
        entry.status
    }

    /// Waits until one of `children` exits or a stop signal arrives.
    pub fn wait_any(&self, children: &[&Child]) -> Ended {
        loop {
            if self.signalled() {
                return Ended::Signal;
            }
            for child in children {
                if let Some(status) = self.exited(child) {
                    let name = self.children.lock().unwrap()[child.0].name.clone();
                    return Ended::Exited(name, status);
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends SIGTERM to every child still running, waits up to [`GRACE`] for them to exit
    /// (the host finishes its requests and closes its database), then kills what is left.
    pub fn terminate_all(&self) {
        let mut children = self.children.lock().unwrap();
        let running = |e: &mut Entry| {
            if e.status.is_none() {
                e.status = e.process.try_wait().ok().flatten();
            }
            e.status.is_none()
        };
        for entry in children.iter_mut().filter(|e| e.status.is_none()) {
            if let Ok(pid) = i32::try_from(entry.process.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + GRACE;
        while children.iter_mut().any(running) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        for entry in children.iter_mut().filter(|e| e.status.is_none()) {
            eprintln!("xtask: {} did not stop within {} s of SIGTERM; killing it", entry.name, GRACE.as_secs());
            let _ = entry.process.kill();
            entry.status = entry.process.wait().ok();
        }
    }
}

impl Drop for Stop {
    /// An early return (an error, a panic) stops the children too.
    fn drop(&mut self) {
        self.terminate_all();
    }
}
