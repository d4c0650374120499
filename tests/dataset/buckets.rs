//! Bucketing agrees with an independent Python implementation of the published formulas
//! (tests/fixtures/buckets/make_buckets.py) and with the hand-worked examples of
//! shared/reference/datasets.md §4.6-4.7.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use lorabench::dataset::buckets::{
    KohyaBuckets, KohyaConfig, Size, ai_toolkit_bucket, kohya_bucket_list,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    kohya: Vec<KohyaSet>,
    ai_toolkit: Vec<AiSet>,
}

#[derive(Deserialize)]
struct KohyaSet {
    resolution: [u32; 2],
    min: u32,
    max: u32,
    step: u32,
    buckets: Vec<[u32; 2]>,
    cases: Vec<KohyaCase>,
}

#[derive(Deserialize)]
struct KohyaCase {
    image: [u32; 2],
    bucket: [u32; 2],
    resized: [u32; 2],
    no_upscale_bucket: [u32; 2],
    no_upscale_resized: [u32; 2],
}

#[derive(Deserialize)]
struct AiSet {
    resolution: u32,
    divisibility: u32,
    cases: Vec<AiCase>,
}

#[derive(Deserialize)]
struct AiCase {
    image: [u32; 2],
    bucket: [u32; 2],
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/buckets/buckets.json"
    ))
    .expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

fn size(s: [u32; 2]) -> Size {
    Size::new(s[0], s[1])
}

fn config(set: &KohyaSet, no_upscale: bool) -> KohyaConfig {
    KohyaConfig {
        resolution: size(set.resolution),
        enable_bucket: true,
        min_bucket_reso: set.min,
        max_bucket_reso: set.max,
        bucket_reso_steps: set.step,
        bucket_no_upscale: no_upscale,
    }
}

#[test]
fn kohya_lists_and_assignments_match_the_python_reference() {
    let fixture = fixture();
    let mut checked = 0;
    for set in &fixture.kohya {
        let upscale = KohyaBuckets::new(config(set, false)).expect("valid settings");
        let expected: Vec<Size> = set.buckets.iter().copied().map(size).collect();
        assert_eq!(
            upscale.list(),
            expected.as_slice(),
            "bucket list {:?}",
            set.resolution
        );
        let no_upscale = KohyaBuckets::new(config(set, true)).expect("valid settings");
        for case in &set.cases {
            let image = size(case.image);
            let a = upscale.assign(image);
            assert_eq!(
                a.bucket,
                size(case.bucket),
                "{image} in {:?}",
                set.resolution
            );
            assert_eq!(
                a.resized,
                size(case.resized),
                "{image} in {:?}",
                set.resolution
            );
            let n = no_upscale.assign(image);
            assert_eq!(n.bucket, size(case.no_upscale_bucket), "{image} no-upscale");
            assert_eq!(
                n.resized,
                size(case.no_upscale_resized),
                "{image} no-upscale"
            );
            checked += 1;
        }
    }
    assert!(checked > 500);
}

#[test]
fn ai_toolkit_assignments_match_the_python_reference() {
    for set in fixture().ai_toolkit {
        for case in set.cases {
            let image = size(case.image);
            let a = ai_toolkit_bucket(image, set.resolution, set.divisibility);
            assert_eq!(a.bucket, size(case.bucket), "{image} at {}", set.resolution);
            assert!(a.bucket.area() <= u64::from(set.resolution).pow(2));
            assert!(a.resized.w >= a.bucket.w && a.resized.h >= a.bucket.h);
        }
    }
}

/// The table of datasets.md §4.7, computed by hand from the formulas.
#[test]
fn hand_worked_examples_of_the_reference() {
    let rows: [(Size, u32, u32, Size, Size, Size, Size); 9] = [
        (
            Size::new(512, 768),
            512,
            1024,
            Size::new(384, 640),
            Size::new(427, 640),
            Size::new(384, 576),
            Size::new(384, 576),
        ),
        (
            Size::new(768, 512),
            512,
            1024,
            Size::new(640, 384),
            Size::new(640, 427),
            Size::new(576, 384),
            Size::new(576, 384),
        ),
        (
            Size::new(640, 480),
            512,
            1024,
            Size::new(576, 448),
            Size::new(597, 448),
            Size::new(512, 384),
            Size::new(512, 384),
        ),
        (
            Size::new(1050, 1080),
            1024,
            2048,
            Size::new(1024, 1024),
            Size::new(1024, 1053),
            Size::new(960, 960),
            Size::new(960, 987),
        ),
        (
            Size::new(3072, 3000),
            1024,
            2048,
            Size::new(1024, 1024),
            Size::new(1049, 1024),
            Size::new(960, 960),
            Size::new(983, 960),
        ),
        (
            Size::new(1920, 1080),
            1024,
            2048,
            Size::new(1344, 768),
            Size::new(1365, 768),
            Size::new(1344, 768),
            Size::new(1365, 768),
        ),
        (
            Size::new(4000, 3000),
            1024,
            2048,
            Size::new(1152, 896),
            Size::new(1195, 896),
            Size::new(1088, 832),
            Size::new(1109, 832),
        ),
        (
            Size::new(600, 800),
            1024,
            2048,
            Size::new(896, 1152),
            Size::new(896, 1195),
            Size::new(576, 768),
            Size::new(600, 800),
        ),
        (
            Size::new(300, 300),
            1024,
            2048,
            Size::new(1024, 1024),
            Size::new(1024, 1024),
            Size::new(256, 256),
            Size::new(300, 300),
        ),
    ];
    for (image, res, max, bucket, resized, nu_bucket, nu_resized) in rows {
        let mut cfg = KohyaConfig {
            resolution: Size::new(res, res),
            enable_bucket: true,
            min_bucket_reso: 256,
            max_bucket_reso: max,
            bucket_reso_steps: 64,
            bucket_no_upscale: false,
        };
        let a = KohyaBuckets::new(cfg).expect("valid").assign(image);
        assert_eq!((a.bucket, a.resized), (bucket, resized), "{image} upscale");
        cfg.bucket_no_upscale = true;
        let n = KohyaBuckets::new(cfg).expect("valid").assign(image);
        assert_eq!(
            (n.bucket, n.resized),
            (nu_bucket, nu_resized),
            "{image} no-upscale"
        );
    }
    // §4.6: the resolution-512 list.
    let list = kohya_bucket_list(Size::new(512, 512), 256, 1024, 64);
    let expected: Vec<Size> = [
        (256, 832),
        (256, 896),
        (256, 960),
        (256, 1024),
        (320, 704),
        (320, 768),
        (384, 640),
        (448, 576),
        (512, 512),
        (576, 448),
        (640, 384),
        (704, 320),
        (768, 320),
        (832, 256),
        (896, 256),
        (960, 256),
        (1024, 256),
    ]
    .into_iter()
    .map(|(w, h)| Size::new(w, h))
    .collect();
    assert_eq!(list, expected);
}
