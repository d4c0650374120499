//! End to end: the real binary in tmux on a temporary dataset. Navigate, edit a caption, add a
//! tag to every caption, exclude an image, undo, answer a conflict with another program's
//! edit (seen by the folder watcher), quit; then check the files on disk.
//! Skipped (with the reason printed) only where tmux is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::tui_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Where tmux is not installed, says so (the test is then skipped).
    fn missing() -> bool {
        let missing = Command::new("tmux").arg("-V").output().is_err();
        if missing {
            println!(
                "SKIPPED: tmux is not installed, so the end-to-end test cannot drive the binary"
            );
        }
        missing
    }

    /// Starts `command` in a `w`x`h` session with Esc delivered at once (not held for a
    /// possible Alt sequence).
    fn start(&self, w: u16, h: u16, command: &str) {
        let (w, h) = (w.to_string(), h.to_string());
        let started = self.cmd(&["new-session", "-d", "-s", "lb", "-x", &w, "-y", &h, command]);
        assert!(started.status.success(), "{started:?}");
        self.cmd(&["set", "-s", "escape-time", "0"]);
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "lb"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "lb"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn text(&self, text: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", "lb", "-l", text])
                .status
                .success()
        );
    }

    /// Waits until the screen shows `needle`; panics with the screen if it never does.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "lb"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn edit_bulk_exclude_undo_quit_in_tmux() {
    if Tmux::missing() {
        return;
    }
    let (tmp, root) = tui_support::dataset();
    let config = tmp.path().join("config");
    let tmux = Tmux {
        socket: format!("lorabench-e2e-{}", std::process::id()),
    };
    // Config and remembered state in the test's folder, never the user's own.
    let command = format!(
        "XDG_CONFIG_HOME='{}' XDG_STATE_HOME='{}' '{}' --image-protocol halfblocks '{}'",
        config.display(),
        tmp.path().join("state").display(),
        env!("CARGO_BIN_EXE_lorabench"),
        root.display()
    );
    tmux.start(110, 32, &command);
    tmux.wait_for("dawn.png");

    // Navigate to dusk and edit its caption in text mode.
    tmux.keys(&["j"]);
    tmux.wait_for("2/4");
    tmux.keys(&["e"]);
    tmux.wait_for("· text");
    tmux.keys(&["End"]);
    tmux.text(", red sky");
    tmux.wait_for("unsaved");
    tmux.keys(&["Escape"]);
    tmux.wait_for("saved 10_lh/dusk.txt");

    // Add a tag to every caption.
    tmux.keys(&["b"]);
    tmux.wait_for("Bulk edit");
    tmux.text("add seascape");
    tmux.keys(&["Enter"]);
    tmux.wait_for("+lhx, lighthouse, dawn, sea, seascape");
    tmux.keys(&["y"]);
    tmux.wait_for("undo in the browser takes it back");

    // Exclude the first image, then undo that.
    tmux.keys(&["g", "x"]);
    tmux.wait_for("excluded 1 image");
    assert!(!root.join("10_lh/dawn.png").exists());
    tmux.keys(&["u"]);
    tmux.wait_for("undid");

    // Another program changes a caption while it has unsaved edits: the watcher notices and
    // the workbench asks instead of overwriting either side.
    tmux.keys(&["j", "e"]);
    tmux.wait_for("· text");
    tmux.text("zz ");
    tmux.wait_for("unsaved");
    std::fs::write(root.join("10_lh/night.txt"), "written elsewhere\n").unwrap();
    tmux.wait_for("changed by another program");
    tmux.keys(&["t"]);
    tmux.wait_for("took the version on disk");
    tmux.keys(&["Escape"]);

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds, red sky, seascape\r\n"
    );
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea, seascape\n"
    );
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "written elsewhere\n",
        "theirs was taken"
    );
    assert_eq!(read(&root, "10_lh/storm.txt"), "seascape");
    assert!(
        root.join("10_lh/dawn.png").exists(),
        "undo brought the image back"
    );
    assert!(!root.join(".lorabench/excluded/10_lh/dawn.png").exists());
}

/// Whether the pane's program has exited (the pane stays, `remain-on-exit`, so its last words
/// can be read).
fn dead(tmux: &Tmux) -> bool {
    let out = tmux.cmd(&["display-message", "-p", "-t", "lb", "#{pane_dead}"]);
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// A read-only dataset, the default `--image-protocol auto` inside tmux, NO_COLOR and a small
/// terminal: the first key press counts and the first frame is not held up by the probe;
/// the editor that cannot save is left by discarding (after a yes) and by quitting, which
/// keeps the draft outside the dataset and says where.
#[test]
fn read_only_dataset_first_key_discard_and_quit_in_tmux() {
    if Tmux::missing() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (tmp, root) = tui_support::dataset();
    let state = tmp.path().join("state");
    // Root ignores permission bits: a `.lorabench` that is a file refuses every change there
    // too, so the test holds for any user.
    std::fs::write(root.join(".lorabench"), "").unwrap();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    let set_mode = |file: u32, dir: u32| {
        for e in walkdir::WalkDir::new(&root) {
            let e = e.unwrap();
            let m = if e.file_type().is_dir() { dir } else { file };
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(m)).unwrap();
        }
    };
    set_mode(0o444, 0o555);
    let tmux = Tmux {
        socket: format!("lorabench-e2e-ro-{}", std::process::id()),
    };
    let command = format!(
        "NO_COLOR=1 XDG_CONFIG_HOME='{}' XDG_STATE_HOME='{}' '{}' '{}'",
        tmp.path().join("config").display(),
        state.display(),
        env!("CARGO_BIN_EXE_lorabench"),
        root.display()
    );
    let started_at = Instant::now();
    tmux.start(60, 20, &command);
    tmux.cmd(&["set", "-g", "remain-on-exit", "on"]);
    // The very first key, sent before anything is drawn, must not be eaten by the probe.
    tmux.keys(&["j"]);
    tmux.wait_for("dusk.png");
    let first_frame = started_at.elapsed();
    tmux.wait_for("2/4");
    assert!(
        first_frame < Duration::from_millis(1500),
        "the first frame took {first_frame:?}"
    );

    // The text editor cannot save: Esc says so and names the ways out.
    tmux.keys(&["e"]);
    tmux.wait_for("· text");
    tmux.text("zz ");
    tmux.wait_for("✎");
    tmux.keys(&["Escape"]);
    tmux.wait_for("cannot save");
    tmux.keys(&["C-g"]);
    tmux.wait_for("Discard your changes");
    tmux.keys(&["n"]);
    tmux.wait_for("zz ");
    tmux.keys(&["C-g"]);
    tmux.wait_for("Discard your changes");
    tmux.keys(&["y"]);
    tmux.wait_for("discarded the changes");

    // The tag editor: quit keeps the draft outside the dataset and says where.
    tmux.keys(&["t"]);
    tmux.wait_for("· tags");
    tmux.keys(&["d"]);
    tmux.wait_for("✎");
    tmux.keys(&["C-c"]);
    tmux.wait_for("Quit, keeping your draft");
    tmux.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dead(&tmux) {
        assert!(
            Instant::now() < deadline,
            "did not quit:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let screen = tmux.wait_for("your draft is in");
    let drafts: Vec<_> = std::fs::read_dir(state.join("lorabench/drafts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(drafts.len(), 1, "{drafts:?}\n{screen}");
    assert_eq!(
        std::fs::read_to_string(&drafts[0]).unwrap(),
        "lighthouse, dusk, clouds",
        "dusk's draft, its first tag deleted"
    );
    set_mode(0o644, 0o755);
    let after: Vec<(std::path::PathBuf, Vec<u8>)> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    assert_eq!(before, after, "nothing in the dataset changed");
}

/// The whole training loop from the workbench: the Train screen set to the `command` backend,
/// launched; its monitor watched while the loss chart moves; the workbench quit (the run goes
/// on, detached); a new workbench finds the run on its Runs screen and follows it to the end.
/// The "trainer" replays, frame by frame, a log the real tqdm wrote
/// (tests/fixtures/runs_tui/done.log, made by its record.sh).
#[test]
fn launch_from_train_watch_quit_and_reopen_in_tmux() {
    if Tmux::missing() {
        return;
    }
    let (tmp, root) = tui_support::dataset();
    let runs = tmp.path().join("runs");
    let replay = tmp.path().join("replay.py");
    std::fs::write(
        &replay,
        "import sys, time\n\
         data = open(sys.argv[1], 'rb').read()\n\
         for part in data.split(b'\\r'):\n\
         \x20   sys.stdout.buffer.write(part + b'\\r')\n\
         \x20   sys.stdout.flush()\n\
         \x20   time.sleep(0.2)\n",
    )
    .unwrap();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs_tui/done.log");
    let tmux = Tmux {
        socket: format!("lorabench-e2e-train-{}", std::process::id()),
    };
    let command = format!(
        "LORABENCH_HOME='{}' XDG_CONFIG_HOME='{}' XDG_STATE_HOME='{}' '{}' --image-protocol halfblocks '{}'",
        runs.display(),
        tmp.path().join("config").display(),
        tmp.path().join("state").display(),
        env!("CARGO_BIN_EXE_lorabench"),
        root.display()
    );
    tmux.start(120, 40, &command);
    tmux.wait_for("dawn.png");

    // The Train screen: no preset, the command backend, the replay as the command.
    tmux.keys(&["T"]);
    tmux.wait_for("backend");
    let row = |screen: &str, label: &str| {
        screen
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_default()
            .to_string()
    };
    for _ in 0..20 {
        if row(&tmux.capture(), "preset").contains("(none)") {
            break;
        }
        tmux.keys(&["Right"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        row(&tmux.capture(), "preset").contains("(none)"),
        "{}",
        tmux.capture()
    );
    tmux.keys(&["Tab"]);
    for _ in 0..20 {
        if row(&tmux.capture(), "backend").contains("command") {
            break;
        }
        tmux.keys(&["Right"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // The command field is the last of the eleven text fields.
    for _ in 0..11 {
        tmux.keys(&["Tab"]);
    }
    tmux.text(&format!(
        "[python3, {}, {}]",
        replay.display(),
        log.display()
    ));
    tmux.keys(&["C-r"]);
    tmux.wait_for("launched run");

    // Its monitor, from the Runs screen: the step and the chart move while we watch.
    tmux.keys(&["Escape"]);
    tmux.wait_for("dawn.png");
    tmux.keys(&["R"]);
    tmux.wait_for("running");
    tmux.keys(&["Enter"]);
    // The progress line's `step N/60`, and the chart's last step (its `step N` axis label).
    let step_of = |screen: &str, chart: bool| -> Option<u64> {
        screen.match_indices("step ").find_map(|(at, _)| {
            let rest = &screen[at + 5..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let on_chart = !rest[digits.len()..].starts_with('/');
            (!digits.is_empty() && on_chart == chart).then(|| digits.parse().ok())?
        })
    };
    tmux.wait_for("Loss");
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let screen = tmux.capture();
        if step_of(&screen, true).is_some() || Instant::now() > deadline {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (a, chart_a) = (
        step_of(&first, false).unwrap(),
        step_of(&first, true).unwrap(),
    );
    let moved = loop {
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.capture();
        if step_of(&screen, false).is_some_and(|b| b > a + 3) || Instant::now() > deadline {
            break screen;
        }
    };
    let b = step_of(&moved, false).unwrap();
    assert!(b > a + 3, "the step did not move: {a} then\n{moved}");
    let chart_b = step_of(&moved, true).unwrap();
    assert!(
        chart_b > chart_a,
        "the chart did not move: {chart_a} then\n{moved}"
    );

    // Quit the workbench while the run goes on.
    tmux.keys(&["q"]);
    tmux.keys(&["q"]);
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && !dead(&tmux) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = tmux.cmd(&["kill-server"]);
    let home = lorabench::train::run::Home::at(&runs);
    let ids = home.run_ids().unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let dir = home.run_dir(&ids[0]);
    let state = lorabench::train::run::Status::read(&dir).unwrap().state;
    assert!(
        state.is_active(),
        "the run went on after the workbench quit: {state:?}"
    );

    // A new workbench finds it and follows it to the end.
    let name = lorabench::train::run::manifest::Manifest::read(&dir)
        .unwrap()
        .name;
    tmux.start(120, 40, &command);
    tmux.wait_for("dawn.png");
    tmux.keys(&["R"]);
    tmux.wait_for(&name);
    tmux.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let end = loop {
        let screen = tmux.capture();
        if screen.contains("step 60/60") && screen.contains("succeeded") {
            break screen;
        }
        assert!(Instant::now() < deadline, "never finished:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(end.contains("Loss"), "{end}");
}
