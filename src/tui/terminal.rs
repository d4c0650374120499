//! Entering and leaving the terminal: raw mode, the alternate screen and mouse capture, and
//! putting all of it back on exit, on panic and on SIGHUP/SIGTERM/SIGINT.

use std::io::{self, Stdout, Write};
use std::sync::Once;
use std::sync::mpsc::Sender;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::msg::Msg;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the workbench runs; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    /// Raw mode, alternate screen, mouse capture, and a panic hook that undoes them first.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(err) = execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide) {
            restore();
            return Err(err);
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(err) => {
                restore();
                Err(err)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back the way a shell expects it. Safe to call more than once; errors are
/// ignored because there is nothing better to do with them (the terminal may be gone).
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Restore first so the panic message lands on a normal screen.
            restore();
            previous(info);
        }));
    });
}

/// Forwards SIGHUP, SIGTERM and SIGINT to the event loop, which saves what it can, restores
/// the terminal and exits. The returned handle stops the thread.
pub fn forward_signals(tx: Sender<Msg>) -> io::Result<Handle> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(Msg::Signal(sig)).is_err() {
                    break;
                }
            }
        })?;
    Ok(handle)
}
