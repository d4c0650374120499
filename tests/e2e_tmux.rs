//! End to end: the real binary in tmux on a temporary dataset. Navigate, edit a caption, add a
//! tag to every caption, exclude an image, undo, answer a conflict with another program's
//! edit (seen by the folder watcher), quit; then check the files on disk.
//! Skipped (with the reason printed) only where tmux is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

mod tui_support;

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
    let command = format!(
        "XDG_CONFIG_HOME='{}' '{}' --image-protocol halfblocks '{}'",
        config.display(),
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
    tmux.wait_for("done (undo takes it back)");

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
