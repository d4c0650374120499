//! The step a trainer writes into its checkpoint and sample file names (trainers.md §4.4, 5.3,
//! 6.3, 7.3, 8.3), so a checkpoint or sample found on disk or named in a log can be placed on the
//! loss curve.

use std::sync::LazyLock;

use regex::Regex;

use crate::train::TrainerId;

/// A constant pattern; the tests below would fail if one did not compile.
fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

type Pattern = LazyLock<Option<Regex>>;

static KOHYA_CKPT: Pattern = LazyLock::new(|| re(r"-step(\d{8,})(?:-state)?(?:\.\w+)?$"));
static AI_TOOLKIT_CKPT: Pattern = LazyLock::new(|| re(r"_(\d{9})\.safetensors$"));
/// kohya's per-epoch saves, `<name>-<epoch:06>` (trainers.md §4.4): an epoch, not a step.
static KOHYA_EPOCH: Pattern = LazyLock::new(|| re(r"-(\d{6})(?:-state)?(?:\.\w+)?$"));
/// A number ending a file's stem after `-`, `_` or `step`: how a script of the user's own most
/// likely numbers its saves (`lora-000040.safetensors`, `lora_step40.pt`).
static TRAILING_NUMBER: Pattern = LazyLock::new(|| re(r"(?:[-_]|step)(\d+)(?:\.\w+)?$"));
static CHECKPOINT_DIR: Pattern = LazyLock::new(|| re(r"(?:^|/)checkpoint-(\d+)(?:-rolling)?/?$"));
static ONETRAINER: Pattern =
    LazyLock::new(|| re(r"-(?:save|backup|training-sample)-(\d+)-(\d+)-(\d+)(?:\.\w+)?/?$"));
static KOHYA_SAMPLE: Pattern =
    LazyLock::new(|| re(r"(?:^|_)(e?)(\d{6,})_(\d{2,})_\d{14}(?:_\d+)?\.png$"));
/// The built-in trainer's samples, `<name>_<step:06>_<prompt:02>.png` (src/trainer/sample.rs).
static BUILTIN_SAMPLE: Pattern = LazyLock::new(|| re(r"_(\d{6,})_(\d{2,})\.png$"));
static AI_TOOLKIT_SAMPLE: Pattern =
    LazyLock::new(|| re(r"^\d+__(\d{9})_(\d+)\.(?:jpg|jpeg|png|webp)$"));
/// `step_<step>_<prompt shortname>_<image index>_<W>x<H>`: the shortname and the index together
/// name one prompt's image (the index tells the validation images of a prompt apart).
static SIMPLETUNER_SAMPLE: Pattern =
    LazyLock::new(|| re(r"^step_(\d+)_(.+_\d+)_(?:\d+x\d+|unknown)\.(?:png|webp|jpe?g)$"));
/// A stem's trailing number and what separates it (a `command` script's own numbering).
static TRAILING_DIGITS: Pattern = LazyLock::new(|| re(r"[-_.]*(?:step)?\d+$"));

fn first_number(re: &Pattern, text: &str) -> Option<u64> {
    re.as_ref()?.captures(text)?.get(1)?.as_str().parse().ok()
}

/// The global step in a checkpoint's path (file or state folder), where the name holds one.
pub fn checkpoint_step(trainer: TrainerId, path: &str) -> Option<u64> {
    match trainer {
        // The built-in trainer names its saves as kohya does (src/trainer/session.rs).
        TrainerId::Kohya | TrainerId::Builtin => first_number(&KOHYA_CKPT, path),
        TrainerId::AiToolkit => first_number(&AI_TOOLKIT_CKPT, path),
        TrainerId::Simpletuner | TrainerId::Diffusers => first_number(&CHECKPOINT_DIR, path),
        TrainerId::Onetrainer => first_number(&ONETRAINER, path),
        TrainerId::Command => None,
    }
}

/// A guess for a file of a trainer whose naming is unknown (a `command` backend's script): the
/// number ending its stem. Only for showing a file's place; a log line's step is not guessed.
pub fn numbered_step(path: &str) -> Option<u64> {
    first_number(&TRAILING_NUMBER, path)
}

/// The epoch in a checkpoint's name, for the trainers that name per-epoch saves by it.
pub fn checkpoint_epoch(trainer: TrainerId, path: &str) -> Option<u64> {
    match trainer {
        TrainerId::Kohya => first_number(&KOHYA_EPOCH, path),
        _ => None,
    }
}

/// The global step in a sample image's file name (kohya's epoch-triggered samples name an
/// epoch, not a step: `None`).
pub fn sample_step(trainer: TrainerId, file_name: &str) -> Option<u64> {
    match trainer {
        TrainerId::Kohya => {
            let c = KOHYA_SAMPLE.as_ref()?.captures(file_name)?;
            if !c.get(1)?.as_str().is_empty() {
                return None;
            }
            c.get(2)?.as_str().parse().ok()
        }
        TrainerId::Builtin => first_number(&BUILTIN_SAMPLE, file_name),
        TrainerId::AiToolkit => first_number(&AI_TOOLKIT_SAMPLE, file_name),
        TrainerId::Simpletuner => first_number(&SIMPLETUNER_SAMPLE, file_name),
        TrainerId::Onetrainer if file_name.contains("-training-sample-") => {
            first_number(&ONETRAINER, file_name)
        }
        _ => None,
    }
}

/// Which prompt a sample image shows, as its trainer names it, so one prompt can be followed
/// across steps: the prompt's index (kohya, the built-in trainer, ai-toolkit: `prompt 0`),
/// SimpleTuner's prompt shortname and image index, OneTrainer's `<i> - <prompt>` folder. A
/// script of the user's own: the stem without its trailing number (`img-000040` is `img`).
pub fn sample_prompt(trainer: TrainerId, path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy();
    let group = |re: &Pattern, i: usize| -> Option<String> {
        Some(re.as_ref()?.captures(&name)?.get(i)?.as_str().to_string())
    };
    let index = |re: &Pattern, i: usize| -> Option<String> {
        let n: u64 = group(re, i)?.parse().ok()?;
        Some(format!("prompt {n}"))
    };
    match trainer {
        TrainerId::Kohya => index(&KOHYA_SAMPLE, 3),
        TrainerId::Builtin => index(&BUILTIN_SAMPLE, 2),
        TrainerId::AiToolkit => index(&AI_TOOLKIT_SAMPLE, 2),
        TrainerId::Simpletuner => group(&SIMPLETUNER_SAMPLE, 2),
        TrainerId::Onetrainer => Some(path.parent()?.file_name()?.to_string_lossy().into_owned()),
        TrainerId::Diffusers | TrainerId::Command => {
            let stem = path.file_stem()?.to_string_lossy();
            let cut = TRAILING_DIGITS
                .as_ref()?
                .find(&stem)
                .map_or(stem.len(), |m| m.start());
            Some(stem[..cut].to_string()).filter(|s| !s.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrainerId::*;

    #[test]
    fn checkpoint_names() {
        let cases = [
            (Kohya, "out/my_lora-step00000500.safetensors", Some(500)),
            (Kohya, "out/my_lora-step00000500-state", Some(500)),
            (Kohya, "out/my_lora-000003.safetensors", None),
            (Kohya, "out/my_lora.safetensors", None),
            (Builtin, "out/tiny-step00000040.safetensors", Some(40)),
            (Builtin, "out/tiny.safetensors", None),
            (Command, "out/lora-000040.safetensors", None),
            (
                AiToolkit,
                "output/my_lora/my_lora_000000250.safetensors",
                Some(250),
            ),
            (AiToolkit, "output/my_lora/my_lora.safetensors", None),
            (Simpletuner, "output/models/checkpoint-3", Some(3)),
            (Simpletuner, "output/checkpoint-40-rolling/", Some(40)),
            (Diffusers, "trained-lora/checkpoint-500", Some(500)),
            (
                Onetrainer,
                "ws/save/2025-01-01_12-00-00-save-1500-3-120.safetensors",
                Some(1500),
            ),
            (
                Onetrainer,
                "ws/backup/2025-01-01_12-00-00-backup-30-1-10",
                Some(30),
            ),
        ];
        for (t, path, step) in cases {
            assert_eq!(checkpoint_step(t, path), step, "{t} {path}");
        }
    }

    #[test]
    fn numbered_files_of_an_unknown_trainer() {
        assert_eq!(numbered_step("out/lora-000040.safetensors"), Some(40));
        assert_eq!(numbered_step("out/lora_step40.pt"), Some(40));
        assert_eq!(
            numbered_step("out/lora-step00000500.safetensors"),
            Some(500)
        );
        assert_eq!(numbered_step("out/lora.safetensors"), None);
        assert_eq!(numbered_step("out/sd15lora.safetensors"), None);
    }

    #[test]
    fn kohya_epoch_saves_name_their_epoch() {
        assert_eq!(
            checkpoint_epoch(Kohya, "out/my_lora-000003.safetensors"),
            Some(3)
        );
        assert_eq!(checkpoint_epoch(Kohya, "out/my_lora-000003-state"), Some(3));
        assert_eq!(
            checkpoint_epoch(Kohya, "out/my_lora-step00000500.safetensors"),
            None
        );
        assert_eq!(
            checkpoint_epoch(Builtin, "out/my_lora-000003.safetensors"),
            None
        );
    }

    #[test]
    fn sample_names() {
        let cases = [
            (Kohya, "tiny_000003_00_20261201193230_7.png", Some(3)),
            (Kohya, "my_lora_000500_00_20250101120000.png", Some(500)),
            (Kohya, "000500_01_20250101120000.png", Some(500)),
            (Kohya, "my_lora_e000002_01_20250101120000_42.png", None),
            (AiToolkit, "1724112345678__000000250_0.jpg", Some(250)),
            (
                Simpletuner,
                "step_500_validation_0_1024x1024.png",
                Some(500),
            ),
            (Simpletuner, "step_12_my_prompt_key_1_64x64.webp", Some(12)),
            (
                Onetrainer,
                "2025-01-01_12-00-00-training-sample-1500-3-120.jpg",
                Some(1500),
            ),
            (Diffusers, "image_0.png", None),
            (Builtin, "tiny_000040_01.png", Some(40)),
        ];
        for (t, name, step) in cases {
            assert_eq!(sample_step(t, name), step, "{t} {name}");
        }
    }

    #[test]
    fn sample_prompts() {
        let cases = [
            (
                Kohya,
                "out/sample/tiny_000003_00_20261201193230_7.png",
                Some("prompt 0"),
            ),
            (
                Kohya,
                "out/sample/my_lora_e000002_01_20250101120000_42.png",
                Some("prompt 1"),
            ),
            (Builtin, "out/samples/tiny_000040_02.png", Some("prompt 2")),
            (
                AiToolkit,
                "out/samples/1724112345678__000000250_1.jpg",
                Some("prompt 1"),
            ),
            (
                Simpletuner,
                "out/validation_images/step_500_validation_0_1024x1024.png",
                Some("validation_0"),
            ),
            (
                Onetrainer,
                "ws/samples/0 - a photo of sks dog/2025-01-01_12-00-00-training-sample-1500-3-120.jpg",
                Some("0 - a photo of sks dog"),
            ),
            (Command, "out/img-000040.png", Some("img")),
            (Command, "out/grid_step40.png", Some("grid")),
            (Command, "out/000040.png", None),
            (Kohya, "out/sample/not-a-kohya-name.png", None),
        ];
        for (t, path, want) in cases {
            let got = sample_prompt(t, std::path::Path::new(path));
            assert_eq!(got.as_deref(), want, "{t} {path}");
        }
    }
}
