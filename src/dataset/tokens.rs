//! CLIP token counting as the trainers count: transformers' `CLIPTokenizer` with ftfy installed
//! (what sd-scripts, and the other trainers, load for SD1.5/SDXL/Flux's CLIP).
//!
//! Trainers feed captions to CLIP with a context of 77 = start + 75 + end tokens and silently
//! drop the rest (datasets.md §5), so a caption over [`CLIP_TOKEN_LIMIT`] loses its tail.
//! The vocabulary `bpe_simple_vocab_16e6.txt.gz` (MIT, OpenAI CLIP; the same merges as the
//! tokenizer's `merges.txt`) is embedded compressed and decoded once, on first use.
//!
//! Exactness: identical token ids to transformers' tokenizer for every caption of
//! `tests/fixtures/tokens/` and for generated captions (tests/dataset/kohya_tokens.rs runs the real
//! one). The cleaning is `ftfy.fix_text`, which unescapes HTML entities such as `&amp;` only
//! until it meets a `<` (then it takes the text for HTML and leaves entities alone), then
//! whitespace collapsing and lower case; open_clip would unescape twice more. Not reproduced:
//! ftfy's mojibake repair (`fix_encoding`), which changes only text that ftfy judges to be
//! UTF-8 decoded with the wrong codec ("cafÃ©"); such a caption is counted as written.

mod clean;

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use flate2::read::GzDecoder;
use regex::Regex;

use clean::Tables;

/// Caption tokens CLIP sees (77 minus the start and end tokens).
pub const CLIP_TOKEN_LIMIT: usize = 75;

const VOCAB_GZ: &[u8] = include_bytes!("../../assets/bpe_simple_vocab_16e6.txt.gz");
const TEXT_TABLES: &str = include_str!("../../assets/clip_text_tables.json");
/// The tokenizer uses the first 49152 - 256 - 2 merges of the file (after its header line).
const MERGE_COUNT: usize = 49152 - 256 - 2;
/// transformers' spellings; the ids are the last two of the vocabulary either way.
const SPECIAL_TOKENS: [&str; 2] = ["<|startoftext|>", "<|endoftext|>"];
const WORD_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("the embedded CLIP vocabulary is damaged ({0}); reinstall lorabench")]
    Vocabulary(String),
}

/// The CLIP BPE tokenizer.
pub struct ClipTokenizer {
    tables: Tables,
    words: Regex,
    /// Token id of each byte's symbol (the `</w>` form is this + 256).
    byte_ids: [u32; 256],
    /// (left, right) -> (merge rank, merged token id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    special_ids: [u32; 2],
    vocab: Vec<String>,
}

/// One token with the byte range, in the cleaned text, of the word it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    pub word_start: usize,
    pub word_end: usize,
}

/// Token count of a caption and, when it is over the limit, where CLIP cuts it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenCount {
    pub count: usize,
    pub cut: Option<TokenCut>,
}

/// Where the truncation falls.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenCut {
    /// The word holding the first dropped token (as cleaned: lower-cased, whitespace collapsed).
    pub word: String,
    /// True when the cut splits that word (some of its tokens are kept).
    pub splits_word: bool,
    /// Character offset of that word in the original caption, when it can be mapped back.
    pub char_offset: Option<usize>,
    /// The cleaned text CLIP keeps, and the text it drops.
    pub kept: String,
    pub dropped: String,
}

static TOKENIZER: OnceLock<Result<ClipTokenizer, TokenizerError>> = OnceLock::new();

/// The shared tokenizer, loaded on first use.
pub fn clip() -> Result<&'static ClipTokenizer, &'static TokenizerError> {
    TOKENIZER.get_or_init(ClipTokenizer::load).as_ref()
}

/// CLIP's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100...
fn byte_symbols() -> [char; 256] {
    let mut symbols = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            u32::from(b)
        } else {
            next += 1;
            next - 1
        };
        symbols[usize::from(b)] = char::from_u32(code).unwrap_or('\0');
    }
    symbols
}

/// Vocabulary order: the printable bytes in byte order, then the others in byte order.
fn byte_order() -> Vec<u8> {
    let printable = |b: &u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut order: Vec<u8> = (0..=255u8).filter(printable).collect();
    order.extend((0..=255u8).filter(|b| !printable(b)));
    order
}

impl ClipTokenizer {
    fn load() -> Result<ClipTokenizer, TokenizerError> {
        let damaged = |what: String| TokenizerError::Vocabulary(what);
        let mut text = String::new();
        GzDecoder::new(VOCAB_GZ)
            .read_to_string(&mut text)
            .map_err(|e| damaged(e.to_string()))?;
        let tables = Tables::parse(TEXT_TABLES).map_err(|e| damaged(e.to_string()))?;
        let words = Regex::new(WORD_PATTERN).map_err(|e| damaged(e.to_string()))?;

        let symbols = byte_symbols();
        let order = byte_order();
        let mut vocab: Vec<String> = order
            .iter()
            .map(|&b| symbols[usize::from(b)].to_string())
            .collect();
        vocab.extend(
            order
                .iter()
                .map(|&b| format!("{}</w>", symbols[usize::from(b)])),
        );
        let mut byte_ids = [0u32; 256];
        for (index, &b) in order.iter().enumerate() {
            byte_ids[usize::from(b)] = index as u32;
        }
        let merge_lines: Vec<(&str, &str)> = text
            .split('\n')
            .skip(1)
            .take(MERGE_COUNT)
            .map(|line| {
                let mut parts = line.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some(a), Some(b)) => Ok((a, b)),
                    _ => Err(damaged(format!("bad merge line {line:?}"))),
                }
            })
            .collect::<Result<_, _>>()?;
        if merge_lines.len() != MERGE_COUNT {
            return Err(damaged(format!("{} merges", merge_lines.len())));
        }
        vocab.extend(merge_lines.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.extend(SPECIAL_TOKENS.iter().map(|s| s.to_string()));
        // Python builds a dict from the list: a later duplicate wins.
        let encoder: HashMap<&str, u32> = vocab
            .iter()
            .enumerate()
            .map(|(id, s)| (s.as_str(), id as u32))
            .collect();
        let mut merges = HashMap::with_capacity(MERGE_COUNT);
        for (rank, (a, b)) in merge_lines.iter().enumerate() {
            let merged = format!("{a}{b}");
            if let (Some(&left), Some(&right), Some(&id)) =
                (encoder.get(a), encoder.get(b), encoder.get(merged.as_str()))
            {
                // dict(zip(merges, ranks)): a repeated pair keeps its last rank.
                merges.insert((left, right), (rank as u32, id));
            }
        }
        let special_ids = [
            encoder.get(SPECIAL_TOKENS[0]).copied().unwrap_or_default(),
            encoder.get(SPECIAL_TOKENS[1]).copied().unwrap_or_default(),
        ];
        Ok(ClipTokenizer {
            tables,
            words,
            byte_ids,
            merges,
            special_ids,
            vocab,
        })
    }

    /// The caption as the tokenizer sees it (ftfy, whitespace, lower case; pieces around a
    /// special token are cleaned apart and joined with a space).
    pub fn clean(&self, text: &str) -> String {
        self.cleaned_tokens(text).0
    }

    /// Token ids of a caption, without the start and end tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.cleaned_tokens(text)
            .1
            .into_iter()
            .map(|t| t.id)
            .collect()
    }

    /// The cleaned caption and its tokens. As transformers does, the raw text is first split at
    /// the special tokens written exactly (`<|endoftext|>`), each becoming its id, and every
    /// other piece is cleaned and tokenized on its own (so ftfy's `<` rule holds per piece).
    fn cleaned_tokens(&self, text: &str) -> (String, Vec<Token>) {
        let mut cleaned = String::new();
        let mut tokens = Vec::new();
        let mut rest = text;
        loop {
            let next = SPECIAL_TOKENS
                .iter()
                .enumerate()
                .filter_map(|(i, s)| rest.find(s).map(|at| (at, i)))
                .min();
            let (chunk, special) = match next {
                Some((at, i)) => (&rest[..at], Some(i)),
                None => (rest, None),
            };
            for (part, id) in [(self.clean_chunk(chunk), None)]
                .into_iter()
                .chain(special.map(|i| (SPECIAL_TOKENS[i].to_string(), Some(self.special_ids[i]))))
            {
                if part.is_empty() {
                    continue;
                }
                if !cleaned.is_empty() {
                    cleaned.push(' ');
                }
                let start = cleaned.len();
                cleaned.push_str(&part);
                match id {
                    Some(id) => tokens.push(Token {
                        id,
                        word_start: start,
                        word_end: cleaned.len(),
                    }),
                    None => tokens.extend(self.encode_cleaned(&part).into_iter().map(|t| Token {
                        word_start: t.word_start + start,
                        word_end: t.word_end + start,
                        ..t
                    })),
                }
            }
            match (next, special) {
                (Some((at, _)), Some(i)) => rest = &rest[at + SPECIAL_TOKENS[i].len()..],
                _ => break,
            }
        }
        (cleaned, tokens)
    }

    fn clean_chunk(&self, text: &str) -> String {
        clean::clean_lower(&self.tables, text)
    }

    /// The vocabulary entry of a token id (byte symbols, `</w>` marks a word end).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.get(id as usize).map(String::as_str)
    }

    fn encode_cleaned(&self, cleaned: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        for word in self.words.find_iter(cleaned) {
            let span = |id| Token {
                id,
                word_start: word.start(),
                word_end: word.end(),
            };
            if let Some(i) = SPECIAL_TOKENS.iter().position(|s| *s == word.as_str()) {
                tokens.push(span(self.special_ids[i]));
                continue;
            }
            tokens.extend(self.bpe(word.as_str().as_bytes()).into_iter().map(span));
        }
        tokens
    }

    /// Byte-pair merge of one word, as the tokenizer's `bpe`: repeatedly merge every occurrence of
    /// the lowest-ranked adjacent pair, left to right.
    fn bpe(&self, bytes: &[u8]) -> Vec<u32> {
        let mut word: Vec<u32> = bytes
            .iter()
            .map(|&b| self.byte_ids[usize::from(b)])
            .collect();
        if let Some(last) = word.last_mut() {
            *last += 256;
        }
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|pair| self.merges.get(&(pair[0], pair[1])))
                .min_by_key(|(rank, _)| *rank);
            let Some(&(rank, merged)) = best else { break };
            let mut next = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len()
                    && self.merges.get(&(word[i], word[i + 1])).map(|m| m.0) == Some(rank)
                {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(word[i]);
                    i += 1;
                }
            }
            word = next;
        }
        word
    }

    /// Count the caption's tokens and say where a cut at `limit` falls.
    pub fn count(&self, text: &str, limit: usize) -> TokenCount {
        let (cleaned, tokens) = self.cleaned_tokens(text);
        let cut = tokens.get(limit).map(|first_dropped| {
            let start = first_dropped.word_start;
            let last_kept = limit.checked_sub(1).map(|i| tokens[i]);
            let splits_word = last_kept.is_some_and(|t| t.word_start == start);
            let kept_end = match last_kept {
                Some(t) if !splits_word => t.word_end,
                _ => start,
            };
            TokenCut {
                word: cleaned[start..first_dropped.word_end].to_owned(),
                splits_word,
                char_offset: map_offset(text, &cleaned, start),
                kept: cleaned[..kept_end].trim_end().to_owned(),
                dropped: cleaned[kept_end..].trim_start().to_owned(),
            }
        });
        TokenCount {
            count: tokens.len(),
            cut,
        }
    }
}

/// Map a byte offset in the cleaned caption back to a character offset in the original, by
/// walking both: whitespace runs match each other, other characters must be equal once
/// lower-cased. Gives up (None) where cleaning changed more than case and whitespace.
fn map_offset(original: &str, cleaned: &str, target: usize) -> Option<usize> {
    let mut orig = original.char_indices().enumerate().peekable();
    let mut clean = cleaned.char_indices().peekable();
    let skip_space = |orig: &mut std::iter::Peekable<_>| {
        while let Some((_, (_, c))) = orig.peek().copied()
            && clean::py_isspace(c)
        {
            orig.next();
        }
    };
    skip_space(&mut orig);
    while let Some(&(pos, c)) = clean.peek() {
        if pos >= target {
            skip_space(&mut orig);
            return orig.peek().map(|(n, _)| *n);
        }
        if c == ' ' {
            clean.next();
            skip_space(&mut orig);
            continue;
        }
        let (_, (_, o)) = orig.next()?;
        let mut lowered = o.to_lowercase();
        // A character may lower-case to several (İ -> i̇): consume them all from the cleaned text.
        let first = lowered.next()?;
        if first != c {
            return None;
        }
        clean.next();
        for extra in lowered {
            if clean.next().map(|(_, c)| c) != Some(extra) {
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_symbols_match_clip_layout() {
        let symbols = byte_symbols();
        assert_eq!(symbols[usize::from(b'a')], 'a');
        assert_eq!(symbols[0], '\u{100}');
        assert_eq!(symbols[usize::from(b' ')], '\u{120}');
        assert_eq!(byte_order()[0], b'!');
    }

    #[test]
    fn cut_is_reported_with_original_offset() {
        let tok = clip().expect("embedded vocabulary");
        // 80 one-token words: the 76th is the first dropped.
        let words: Vec<String> = (0..80)
            .map(|i| format!("W{}", ["cat", "dog"][i % 2]))
            .collect();
        let caption = words.join("  ");
        let count = tok.count(&caption, CLIP_TOKEN_LIMIT);
        let cut = count.cut.expect("over the limit");
        assert!(count.count > CLIP_TOKEN_LIMIT);
        let offset = cut.char_offset.expect("mappable");
        assert!(caption[offset..].to_lowercase().starts_with(&cut.word));
        assert!(
            tok.count("a photo of a cat", CLIP_TOKEN_LIMIT)
                .cut
                .is_none()
        );
    }
}
