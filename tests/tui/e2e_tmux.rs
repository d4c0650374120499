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
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("SKIPPED: tmux is not installed, so the end-to-end test cannot drive the binary");
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
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "lb",
        "-x",
        "110",
        "-y",
        "32",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    // Esc must reach the program at once, not wait for a possible Alt sequence.
    tmux.cmd(&["set", "-s", "escape-time", "0"]);
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
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("SKIPPED: tmux is not installed, so the end-to-end test cannot drive the binary");
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
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "lb",
        "-x",
        "60",
        "-y",
        "20",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.cmd(&["set", "-s", "escape-time", "0"]);
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
