//! The CLIP token counter gives the same token ids as open_clip's reference tokenizer on the
//! fixed caption set of tests/fixtures/tokens/ (made by make_token_counts.py beside it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use lorabench::dataset::tokens::{CLIP_TOKEN_LIMIT, clip};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    captions: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    caption: String,
    ids: Vec<u32>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokens/token_counts.json"
    ))
    .expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

#[test]
fn token_ids_match_open_clip_on_every_fixture_caption() {
    let tokenizer = clip().expect("embedded vocabulary loads");
    let fixture = fixture();
    assert!(fixture.captions.len() >= 200);
    let mismatches: Vec<String> = fixture
        .captions
        .iter()
        .filter_map(|row| {
            let ids = tokenizer.encode(&row.caption);
            (ids != row.ids).then(|| {
                format!(
                    "{:?}\n  cleaned {:?}\n  ours   {:?}\n  python {:?}",
                    row.caption,
                    tokenizer.clean(&row.caption),
                    ids,
                    row.ids
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} captions differ:\n{}",
        mismatches.len(),
        fixture.captions.len(),
        mismatches.join("\n")
    );
}

#[test]
fn counts_over_the_limit_report_the_cut_consistently() {
    let tokenizer = clip().expect("embedded vocabulary loads");
    let fixture = fixture();
    let long: Vec<&Row> = fixture
        .captions
        .iter()
        .filter(|r| r.ids.len() > CLIP_TOKEN_LIMIT)
        .collect();
    assert!(
        !long.is_empty(),
        "the fixture holds captions over the limit"
    );
    for row in long {
        let count = tokenizer.count(&row.caption, CLIP_TOKEN_LIMIT);
        assert_eq!(count.count, row.ids.len());
        let cut = count.cut.expect("a cut over the limit");
        // What is kept re-tokenizes to at most the limit; kept + dropped is the whole caption.
        assert!(tokenizer.encode(&cut.kept).len() <= CLIP_TOKEN_LIMIT);
        assert!(cut.dropped.starts_with(&cut.word) || cut.splits_word);
        let cleaned = tokenizer.clean(&row.caption);
        assert!(cleaned.starts_with(&cut.kept) && cleaned.ends_with(&cut.dropped));
        assert!(cut.kept.len() + cut.dropped.len() + 1 >= cleaned.len());
    }
    for row in fixture
        .captions
        .iter()
        .filter(|r| r.ids.len() <= CLIP_TOKEN_LIMIT)
    {
        assert!(
            tokenizer
                .count(&row.caption, CLIP_TOKEN_LIMIT)
                .cut
                .is_none()
        );
    }
}
