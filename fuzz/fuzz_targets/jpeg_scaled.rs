//! Any bytes as a JPEG for the preview and lint decode: our baseline decoder, then
//! `jpeg-decoder` for what it declines, must return pixels or a typed error, never panic,
//! hang or allocate from a hostile size. The box the picture must fit comes from the input's
//! length, so the corpus (plain JPEG files) reaches every reduced scale.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lorabench::dataset::preview::decode_jpeg_scaled;

mod capped;

fuzz_target!(|data: &[u8]| {
    let side = 16 * (1 + (data.len() % 13) as u32);
    if let Ok(Some(scaled)) = decode_jpeg_scaled(Path::new("fuzz.jpg"), data, (side, side)) {
        let (w, h) = scaled.info.stored_size();
        assert!(scaled.image.width() <= w && scaled.image.height() <= h);
    }
});
