//! The terminal workbench: the only module that imports ratatui, crossterm and ratatui-image.
//!
//! One channel of [`msg::Msg`] is fed by the input thread, the image workers, the screens'
//! jobs, the folder watcher and the signal thread. The loop blocks on it (no polling, no tick),
//! lets [`app::App::update`] change state, and draws only when something changed, at most once
//! per frame interval. Every screen is a [`screen::Screen`]: it gets a context, answers with
//! effects and draws through `&self`; `screens!` in [`screens`] registers them.

pub mod app;
pub mod bulk;
pub mod command;
pub mod config;
pub mod editor;
pub mod images;
pub mod job;
pub mod keymap;
pub mod layout;
pub mod msg;
pub mod notify;
pub mod popups;
pub mod remember;
pub mod screen;
pub mod screens;
pub mod terminal;
pub mod theme;
pub mod watch;
pub mod widgets;

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ratatui::layout::Rect;
use ratatui_image::picker::{Picker, ProtocolType};

use crate::dataset::{Journal, ScanOptions, scan};

use app::App;
use keymap::Keymap;
use msg::Msg;
use screen::{Level, Status};
use terminal::TerminalGuard;
use theme::Theme;

/// Shortest time between two frames: key repeat and decode bursts are drawn at most ~60 fps.
const FRAME: Duration = Duration::from_millis(16);

/// How images are sent to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageProtocol {
    /// Ask the terminal; colour half-blocks when it answers nothing useful.
    #[default]
    Auto,
    Kitty,
    Sixel,
    Iterm2,
    Halfblocks,
}

/// What `lorabench [DIR]` asks for.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub theme: String,
    pub protocol: ImageProtocol,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("cannot open {path}: {source} (check that the folder or file exists)")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("terminal: {0} (is this an interactive terminal?)")]
    Terminal(#[from] std::io::Error),
}

/// Opens the workbench on a dataset folder and runs it until the user quits or a signal
/// arrives. Returns the exit code (0, or 128 + signal).
pub fn run(options: Options) -> Result<u8, TuiError> {
    let given = options.dir.canonicalize().map_err(|source| TuiError::Dir {
        path: options.dir.clone(),
        source,
    })?;
    let Opened { root, lora, image } = locate(given);
    // Everything that can fail with a plain message happens before the screen is taken.
    let (journal, recovery) = match Journal::open(&root) {
        Ok((j, r)) => (Ok(j), Some(r)),
        Err(e) => (Err(e), None),
    };
    let dataset = scan(&root, &ScanOptions::default())?;
    let config = crate::train::config::user::config_dir();
    let (theme, mut warnings) = Theme::load(
        &options.theme,
        config.as_deref(),
        theme::no_color_requested(),
    );
    let (keys, keys_warning) = Keymap::load(config.as_deref(), screens::KEYS);
    warnings.extend(keys_warning);
    let state = crate::train::config::user::state_dir();
    let (remembered, remember_warning) = remember::load(&state, &root);
    warnings.extend(remember_warning);

    let mut guard = TerminalGuard::enter()?;
    let (tx, rx) = mpsc::channel();
    let signals = terminal::forward_signals(tx.clone())?;
    let _watcher = watch::watch(&root, tx.clone());

    let size = guard.terminal.size()?;
    // The first frame is drawn with half-blocks; the terminal is asked afterwards (below).
    let mut app = App::new(
        dataset,
        journal,
        theme,
        &Picker::halfblocks(),
        tx.clone(),
        Rect::new(0, 0, size.width, size.height),
    );
    app.keys = keys;
    if let Some(crate::dataset::journal::Recovery::Completed(entry)) = recovery {
        app.status = Some(Status {
            text: format!("finished an interrupted change: {}", entry.description),
            level: Level::Warn,
        });
    }
    if let Some(r) = &remembered {
        warnings.extend(app.restore(r));
    }
    // `lorabench FILE.jpg`: that image, whatever was remembered.
    if let Some(rel) = image
        && !app.show_image(&rel)
    {
        warnings.push(format!(
            "{} is not an image of this dataset (the browser starts where it was)",
            rel.display()
        ));
    }
    if let Some(file) = lora {
        app.open(|ctx| screens::lora::open_file(ctx, file));
    }
    if let Some(w) = warnings.into_iter().next() {
        app.status = Some(Status {
            text: w,
            level: Level::Warn,
        });
    }
    app.update(Msg::Input(ratatui::crossterm::event::Event::Resize(
        size.width,
        size.height,
    )));
    if options.protocol != ImageProtocol::Halfblocks {
        guard.terminal.draw(|f| app.draw(f))?;
        // The terminal's answers must be read before the input thread starts reading; keys
        // typed meanwhile wait in the terminal for it (see `probe`).
        let picker = probe(options.protocol);
        if picker.protocol_type() != ProtocolType::Halfblocks {
            app.set_picker(&picker);
        }
    }
    spawn_input(tx)?;
    let code = event_loop(&mut app, &rx, &mut guard.terminal);
    signals.close();
    drop(guard);
    if let Err(e) = remember::save(&state, &app.remembered()) {
        app.farewell.push(e);
    }
    for line in &app.farewell {
        eprintln!("lorabench: {line}");
    }
    code
}

/// What `lorabench PATH` opens, from the canonical `PATH`.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The dataset folder the browser shows.
    pub root: PathBuf,
    /// A LoRA file to open in the LoRA screen, over the browser.
    pub lora: Option<PathBuf>,
    /// An image to put the browser's cursor on, relative to `root`.
    pub image: Option<PathBuf>,
}

/// A folder is the dataset; `file.safetensors` opens the LoRA screen over its folder; any
/// other file opens its folder with the cursor on it. A file inside a kohya `N_name` folder
/// opens the dataset that holds that folder, as `lorabench DIR` would show it.
pub fn locate(given: PathBuf) -> Opened {
    if !given.is_file() {
        return Opened {
            root: given,
            lora: None,
            image: None,
        };
    }
    let dir = given.parent().map(PathBuf::from).unwrap_or_default();
    if is_lora_file(&given) {
        return Opened {
            root: dir,
            lora: Some(given),
            image: None,
        };
    }
    let name = dir.file_name().map(PathBuf::from).unwrap_or_default();
    let root = match (
        crate::dataset::scan::concept_folder(&name.join("x")),
        dir.parent(),
    ) {
        (Some(_), Some(up)) => up.to_path_buf(),
        _ => dir,
    };
    let image = given.strip_prefix(&root).ok().map(PathBuf::from);
    Opened {
        root,
        lora: None,
        image,
    }
}

fn is_lora_file(path: &std::path::Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// How long the terminal may take to answer the graphics query. A terminal answers in
/// milliseconds; one that says nothing costs this once.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Asks the terminal which graphics it draws. Two rules keep the user's keys: inside tmux,
/// tmux is asked about its client first (a command, no terminal input), and the terminal is
/// queried only when that client can draw graphics, since a query nobody answers leaves
/// ratatui-image's reader blocked on the input, where it would eat the first key press; and
/// when the query does time out, that reader is answered (a status report) so it ends.
fn probe(choice: ImageProtocol) -> Picker {
    let forced = match choice {
        ImageProtocol::Auto => None,
        ImageProtocol::Halfblocks => return Picker::halfblocks(),
        ImageProtocol::Kitty => Some(ProtocolType::Kitty),
        ImageProtocol::Sixel => Some(ProtocolType::Sixel),
        ImageProtocol::Iterm2 => Some(ProtocolType::Iterm2),
    };
    if forced.is_none() && tmux_client_without_graphics() {
        return Picker::halfblocks();
    }
    let options = ratatui_image::picker::cap_parser::QueryStdioOptions {
        timeout: PROBE_TIMEOUT,
        ..Default::default()
    };
    let started = Instant::now();
    // A terminal that does not answer gets half-blocks (the universal fallback).
    let mut picker =
        Picker::from_query_stdio_with_options(options).unwrap_or_else(|_| Picker::halfblocks());
    if started.elapsed() >= PROBE_TIMEOUT {
        release_stray_reader();
    }
    if let Some(p) = forced {
        picker.set_protocol_type(p);
    }
    picker
}

/// After a timed-out query, ratatui-image's reader thread still waits for the terminal's
/// status report; asking for one (not wrapped for tmux, so tmux itself answers) lets it finish
/// before the input thread starts, instead of it swallowing the first key.
fn release_stray_reader() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x1b[5n");
    let _ = out.flush();
    std::thread::sleep(Duration::from_millis(100));
}

/// Inside tmux: whether tmux says its client terminal cannot draw graphics (or there is no
/// client), so there is nothing to ask the terminal. Outside tmux, or when tmux cannot be
/// asked, `false`: the terminal is queried.
fn tmux_client_without_graphics() -> bool {
    if std::env::var_os("TMUX").is_none_or(|v| v.is_empty()) {
        return false;
    }
    let asked = std::process::Command::new("tmux")
        .args([
            "display-message",
            "-p",
            "#{client_termname} #{client_termfeatures}",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Some(out) = asked.ok().filter(|o| o.status.success()) else {
        return false;
    };
    let said = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let outer_hint = ["ITERM_SESSION_ID", "WEZTERM_EXECUTABLE", "KITTY_WINDOW_ID"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    !(outer_hint
        || ["kitty", "sixel", "ghostty", "wezterm", "iterm"]
            .iter()
            .any(|w| said.contains(w)))
}

/// Reads terminal events on its own thread. `read` blocks, so an idle workbench uses no CPU.
fn spawn_input(tx: mpsc::Sender<Msg>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            while let Ok(ev) = ratatui::crossterm::event::read() {
                if tx.send(Msg::Input(ev)).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// Waits for messages, updates, and draws when dirty (at most once per [`FRAME`]).
fn event_loop(
    app: &mut App,
    rx: &Receiver<Msg>,
    terminal: &mut terminal::Term,
) -> Result<u8, TuiError> {
    let mut last_draw: Option<Instant> = None;
    loop {
        if app.dirty {
            let due = last_draw.map_or(Instant::now(), |t| t + FRAME);
            if Instant::now() >= due {
                terminal.draw(|f| app.draw(f))?;
                app.dirty = false;
                last_draw = Some(Instant::now());
            }
        }
        // Written between frames, so a sequence never lands inside one.
        for (title, body) in app.notices.drain(..) {
            let out = terminal.backend_mut();
            let _ = out.write_all(&notify::for_this_terminal(&title, &body));
            let _ = out.flush();
        }
        if let Some(code) = app.quit {
            return Ok(code);
        }
        // Sleep until a message, the next frame (if a draw is pending) or a scheduled rescan.
        let frame_due = app
            .dirty
            .then(|| last_draw.map_or(Instant::now(), |t| t + FRAME));
        let deadline = [frame_due, app.next_deadline()].into_iter().flatten().min();
        let msg = match deadline {
            Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return Ok(0),
            },
        };
        if let Some(m) = msg {
            app.update(m);
            // Take everything already queued before drawing once.
            while let Ok(m) = rx.try_recv() {
                app.update(m);
            }
        }
        app.on_deadline(Instant::now());
    }
}

/// The image protocol the workbench would use in this terminal (for `lorabench doctor`): the
/// terminal is asked, as at start-up; without a terminal, half-blocks.
pub fn image_protocol() -> String {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return "halfblocks (not a terminal)".into();
    }
    format!("{:?}", probe(ImageProtocol::Auto).protocol_type()).to_lowercase()
}
