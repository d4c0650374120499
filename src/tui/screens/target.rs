//! The training target that lint and stats judge the dataset for: trainer, model, resolution,
//! batch size and bucket settings (kohya's `bucket_reso_steps`, `min_bucket_reso` and
//! `max_bucket_reso`, filled with the trainer's defaults). One setting shared by both screens
//! (so the bucket table and the `small-bucket` findings agree), edited in a form and applied by
//! a rerun; the form's values are checked by the same core function as the CLI's flags.

use clap::ValueEnum;

use crate::dataset::buckets::{KOHYA_DEFAULT_MAX, KOHYA_DEFAULT_MIN, KOHYA_DEFAULT_STEPS, Model};
use crate::dataset::lint::{LintOptions, Trainer};

use crate::tui::popups::form::{Form, FormId, Values};

/// The clap spelling of a value (`ai-toolkit`, `sdxl`): the same words as the CLI flags.
fn word<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

fn words<T: ValueEnum>() -> String {
    T::value_variants()
        .iter()
        .map(word)
        .collect::<Vec<_>>()
        .join("|")
}

/// One line naming the target, for screen titles: `kohya sdxl 1024 · batch 2`.
pub fn label(o: &LintOptions) -> String {
    let mut s = format!(
        "{} {} {} · batch {}",
        word(&o.trainer),
        word(&o.model),
        o.resolution(),
        o.batch_size
    );
    if o.bucket_no_upscale {
        s.push_str(" · no upscale");
    }
    // Bucket knobs only when they differ from the trainer's defaults.
    for (name, v, default) in bucket_fields(o) {
        if let Some(v) = v.filter(|&v| v != default) {
            s.push_str(&format!(" · {name} {v}"));
        }
    }
    s
}

/// The bucket fields: label, value set, sd-scripts' default.
fn bucket_fields(o: &LintOptions) -> [(&'static str, Option<u32>, u32); 3] {
    [
        ("bucket step", o.bucket_reso_steps, KOHYA_DEFAULT_STEPS),
        ("min bucket", o.min_bucket_reso, KOHYA_DEFAULT_MIN),
        ("max bucket", o.max_bucket_reso, KOHYA_DEFAULT_MAX),
    ]
}

/// The settings form, filled with the current target.
pub fn form(o: &LintOptions) -> Form {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut fields = vec![
        ("trainer", word(&o.trainer)),
        ("model", word(&o.model)),
        (
            "resolution",
            o.resolution.map_or_else(String::new, |r| r.to_string()),
        ),
        ("batch size", o.batch_size.to_string()),
        ("no upscale", yes_no(o.bucket_no_upscale)),
        ("near-dup distance", o.near_duplicate_distance.to_string()),
    ];
    // The trainer's defaults are shown, so the user sees what lint assumes.
    for (label, v, default) in bucket_fields(o) {
        fields.push((label, v.unwrap_or(default).to_string()));
    }
    Form::new(
        FormId::Target,
        "Training target",
        &fields,
        "trainer, model: as the CLI flags · resolution empty: the model's · buckets: kohya's \
         bucket_reso_steps, min/max_bucket_reso (empty: the default)",
    )
}

/// The target the form's values describe, on top of `current` (trigger and the rest kept).
pub fn parse(values: &Values, current: &LintOptions) -> Result<LintOptions, String> {
    let mut o = current.clone();
    o.trainer = Trainer::from_str(values.get(0), true).map_err(|_| {
        format!(
            "trainer: `{}`: one of {}",
            values.get(0),
            words::<Trainer>()
        )
    })?;
    o.model = Model::from_str(values.get(1), true)
        .map_err(|_| format!("model: `{}`: one of {}", values.get(1), words::<Model>()))?;
    o.resolution = match values.get(2) {
        "" => None,
        r => Some(
            r.parse::<u32>()
                .ok()
                .filter(|r| (64..=8192).contains(r))
                .ok_or_else(|| format!("resolution: `{r}`: a side in pixels, 64 to 8192"))?,
        ),
    };
    o.batch_size = values
        .get(3)
        .parse::<u32>()
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| format!("batch size: `{}`: a whole number, 1 or more", values.get(3)))?;
    o.bucket_no_upscale = match values.get(4).to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" => true,
        "no" | "n" | "false" | "off" | "" => false,
        other => return Err(format!("no upscale: `{other}`: yes or no")),
    };
    o.near_duplicate_distance = values
        .get(5)
        .parse::<u32>()
        .ok()
        .filter(|&d| d <= 64)
        .ok_or_else(|| {
            format!(
                "near-dup distance: `{}`: bits of 64 that may differ, 0 to 64",
                values.get(5)
            )
        })?;
    for (i, (label, _, default)) in bucket_fields(current).into_iter().enumerate() {
        // The default is kept as "not set", as the CLI leaves an absent flag.
        let v =
            match values.get(6 + i) {
                "" => None,
                text => Some(text.parse::<u32>().map_err(|_| {
                    format!("{label}: `{text}`: a side in pixels (default {default})")
                })?)
                .filter(|&n| n != default),
            };
        match i {
            0 => o.bucket_reso_steps = v,
            1 => o.min_bucket_reso = v,
            _ => o.max_bucket_reso = v,
        }
    }
    // What the trainer would refuse, refused as `lorabench lint` refuses its flags.
    o.check().map_err(|e| e.to_string())?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Values {
        Values {
            id: FormId::Target,
            values: v.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn form_round_trips_the_target() {
        let o = LintOptions {
            trainer: Trainer::AiToolkit,
            model: Model::Sd15,
            resolution: Some(768),
            batch_size: 4,
            bucket_no_upscale: true,
            trigger: Some("lbhouse".into()),
            ..LintOptions::default()
        };
        let got = parse(&form(&o).take_values(), &LintOptions::default()).unwrap();
        assert_eq!(
            (got.trainer, got.model, got.resolution, got.batch_size),
            (Trainer::AiToolkit, Model::Sd15, Some(768), 4)
        );
        assert!(got.bucket_no_upscale);
        // The trigger is not in this form: the current one is kept.
        assert_eq!(got.trigger, None);
        assert_eq!(label(&got), "ai-toolkit sd15 768 · batch 4 · no upscale");
    }

    #[test]
    fn bucket_knobs_show_the_trainers_defaults_and_are_checked_as_the_cli_checks_them() {
        let base = LintOptions::default();
        let f = form(&base).take_values();
        assert_eq!(&f.values[6..], ["64", "256", "1024"]);
        let ok = parse(&f, &base).unwrap();
        assert_eq!(
            label(&ok),
            "kohya sdxl 1024 · batch 1",
            "defaults are not repeated"
        );
        // SDXL takes steps of 32; the label says a knob that is not the default.
        let v = |step: &str, min: &str, max: &str| {
            values(&["kohya", "sdxl", "", "1", "no", "10", step, min, max])
        };
        let o = parse(&v("32", "", "2048"), &base).unwrap();
        assert_eq!(
            (o.bucket_reso_steps, o.min_bucket_reso, o.max_bucket_reso),
            (Some(32), None, Some(2048))
        );
        assert_eq!(
            label(&o),
            "kohya sdxl 1024 · batch 1 · bucket step 32 · max bucket 2048"
        );
        assert_eq!(parse(&form(&o).take_values(), &o).unwrap(), o);
        // The same refusals as `lorabench lint --bucket-reso-steps 48` and friends.
        let e = parse(&v("48", "", ""), &base).unwrap_err();
        assert!(e.contains("not a multiple of 32"), "{e}");
        let sd15 = values(&["kohya", "sd15", "", "1", "no", "10", "32", "", ""]);
        assert!(parse(&sd15, &base).unwrap_err().contains("multiple of 64"));
        let e = parse(&v("64", "", "512"), &base).unwrap_err();
        assert!(e.contains("outside min/max bucket size"), "{e}");
        let e = parse(&v("64", "abc", ""), &base).unwrap_err();
        assert!(e.starts_with("min bucket: `abc`"), "{e}");
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let base = LintOptions::default();
        let e = parse(&values(&["kohya_ss", "sdxl", "", "1", "no", "10"]), &base).unwrap_err();
        assert!(e.contains("builtin|kohya|ai-toolkit"), "{e}");
        let e = parse(&values(&["kohya", "sdxl", "", "0", "no", "10"]), &base).unwrap_err();
        assert!(e.starts_with("batch size"), "{e}");
        let e = parse(&values(&["kohya", "sd3", "", "1", "no", "10"]), &base).unwrap_err();
        assert!(e.contains("sd15|sdxl|flux"), "{e}");
        let ok = parse(&values(&["KOHYA", "flux", "", "2", "", "10"]), &base).unwrap();
        assert_eq!(
            (ok.model, ok.resolution(), ok.batch_size),
            (Model::Flux, 1024, 2)
        );
    }
}
