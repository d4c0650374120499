//! Background image decoding for the preview pane and the thumbnail grid.
//!
//! Latest wins (DESIGN.md principle 3): the preview has a single pending slot and the grid a
//! pending list, both replaced by each new request, so scrolling through 1,000 images queues
//! at most one preview and one screenful of thumbnails. A decode in progress is not
//! interrupted, but its result carries its key and the app drops it if it is no longer wanted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};

use image::DynamicImage;

use crate::dataset::preview;
use ratatui::layout::Size;
use ratatui_image::Resize;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;

/// What a decode serves: the file, the cell area it is encoded for, and the file's
/// modification time (so an image changed on disk is decoded again).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageKey {
    pub path: PathBuf,
    pub cells: (u16, u16),
    pub modified: Option<std::time::SystemTime>,
}

impl ImageKey {
    pub fn new(path: PathBuf, cells: (u16, u16)) -> ImageKey {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        ImageKey {
            path,
            cells,
            modified,
        }
    }
}

/// A decoded image, or why there is none.
pub type Shown = (ImageKey, Result<Protocol, String>);

/// Which queue a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Preview,
    Thumb,
}

/// Facts about the original image, shown in the info panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    pub width: u32,
    pub height: u32,
}

/// A finished decode, ready to render.
pub struct Decoded {
    pub key: ImageKey,
    pub purpose: Purpose,
    pub result: Result<(Protocol, ImageFacts), String>,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("key", &self.key)
            .field("purpose", &self.purpose)
            .field("ok", &self.result.is_ok())
            .finish()
    }
}

/// Decodes `path` through the dataset's preview core (content-sniffed format, decode limits,
/// EXIF orientation, scaled JPEG decoding) to fit `max_w` x `max_h` pixels. Returns the shrunk
/// image and the original (oriented) dimensions.
pub fn load(path: &Path, max_w: u32, max_h: u32) -> Result<(DynamicImage, ImageFacts), String> {
    let preview = preview::load(path, max_w, max_h).map_err(|e| e.to_string())?;
    let facts = ImageFacts {
        width: preview.info.width,
        height: preview.info.height,
    };
    Ok((DynamicImage::ImageRgba8(preview.image), facts))
}

/// Decodes and encodes one request for the terminal's graphics protocol.
fn render(picker: &Picker, key: &ImageKey) -> Result<(Protocol, ImageFacts), String> {
    let font = picker.font_size();
    let (w, h) = key.cells;
    let max_w = u32::from(w) * u32::from(font.width);
    let max_h = u32::from(h) * u32::from(font.height);
    let (img, facts) = load(&key.path, max_w, max_h)?;
    let protocol = picker
        .new_protocol(img, Size::new(w, h), Resize::Fit(None))
        .map_err(|e| e.to_string())?;
    Ok((protocol, facts))
}

/// The graphics a decode was encoded in (`None`: it failed). A result in other graphics than
/// the workers use now (from workers replaced since) is dropped.
pub fn protocol_of(result: &Result<(Protocol, ImageFacts), String>) -> Option<ProtocolType> {
    match result {
        Ok((Protocol::Halfblocks(_), _)) => Some(ProtocolType::Halfblocks),
        Ok((Protocol::Sixel(_), _)) => Some(ProtocolType::Sixel),
        Ok((Protocol::Kitty(_), _)) => Some(ProtocolType::Kitty),
        Ok((Protocol::ITerm2(_), _)) => Some(ProtocolType::Iterm2),
        Err(_) => None,
    }
}

#[derive(Default)]
struct Pending {
    preview: Option<ImageKey>,
    thumbs: VecDeque<ImageKey>,
    stop: bool,
}

type Shared = Arc<(Mutex<Pending>, Condvar)>;

/// The decode workers. Dropping this stops them once their current decode finishes (without
/// waiting for it, so quitting is never held up by a large image).
pub struct ImageWorkers {
    shared: Shared,
}

impl ImageWorkers {
    /// Starts `threads` workers that send each [`Decoded`] down `tx`.
    pub fn start<M: From<Decoded> + Send + 'static>(
        picker: Picker,
        tx: Sender<M>,
        threads: usize,
    ) -> ImageWorkers {
        let shared: Shared = Arc::default();
        for i in 0..threads.max(1) {
            let shared = shared.clone();
            let picker = picker.clone();
            let tx = tx.clone();
            // A thread that cannot start leaves the others; with none, images show "decoding…".
            let _ = std::thread::Builder::new()
                .name(format!("decode-{i}"))
                .spawn(move || work(&shared, &picker, &tx));
        }
        ImageWorkers { shared }
    }

    /// The preview to decode next; replaces any preview not yet started.
    pub fn want_preview(&self, key: ImageKey) {
        self.with_pending(|p| p.preview = Some(key));
    }

    /// The thumbnails to decode next, in order; replaces the thumbnails not yet started.
    pub fn want_thumbs(&self, keys: Vec<ImageKey>) {
        self.with_pending(|p| p.thumbs = keys.into());
    }

    fn with_pending(&self, f: impl FnOnce(&mut Pending)) {
        let (lock, cvar) = &*self.shared;
        // A poisoned lock means a worker panicked; the queue itself is still consistent.
        let mut pending = lock.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut pending);
        cvar.notify_all();
    }
}

impl Drop for ImageWorkers {
    fn drop(&mut self) {
        self.with_pending(|p| p.stop = true);
    }
}

fn work<M: From<Decoded>>(shared: &Shared, picker: &Picker, tx: &Sender<M>) {
    let (lock, cvar) = &**shared;
    loop {
        let (key, purpose) = {
            let mut pending = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if pending.stop {
                    return;
                }
                if let Some(key) = pending.preview.take() {
                    break (key, Purpose::Preview);
                }
                if let Some(key) = pending.thumbs.pop_front() {
                    break (key, Purpose::Thumb);
                }
                pending = cvar.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = render(picker, &key);
        let done = Decoded {
            key,
            purpose,
            result,
        };
        if tx.send(M::from(done)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn write_png(path: &Path, w: u32, h: u32) {
        image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 30]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn decodes_and_reports_original_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        write_png(&p, 300, 200);
        let (img, facts) = load(&p, 30, 30).unwrap();
        assert_eq!((facts.width, facts.height), (300, 200));
        assert!(img.width() <= 30 && img.height() <= 30);
    }

    #[test]
    fn latest_preview_request_wins() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..50)
            .map(|i| {
                let p = dir.path().join(format!("{i}.png"));
                write_png(&p, 64, 64);
                p
            })
            .collect();
        // The first request is a large image, so the worker is busy while the others arrive.
        write_png(&paths[0], 3000, 3000);
        let (tx, rx) = mpsc::channel::<Decoded>();
        let workers = ImageWorkers::start(Picker::halfblocks(), tx, 1);
        for p in &paths {
            workers.want_preview(ImageKey::new(p.clone(), (8, 4)));
        }
        // However many were in flight, the last request is served and far fewer than 50 ran.
        let mut served = Vec::new();
        while let Ok(done) = rx.recv_timeout(Duration::from_secs(5)) {
            assert!(done.result.is_ok());
            served.push(done.key.path.clone());
            if done.key.path == paths[49] {
                break;
            }
        }
        assert_eq!(served.last(), Some(&paths[49]));
        // At most the big first one (if the worker started before the rest arrived) and the last.
        assert!(served.len() <= 2, "served {served:?}");
    }
}
