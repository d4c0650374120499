//! A run's loss, its moving average and its learning rate as [`Series`], built from the points
//! of `metrics.jsonl`: what the loss chart draws and `lorabench runs plot` writes, so both show
//! the same curves from the same reading.

use std::path::Path;

use super::series::{Series, ema};
use super::{MetricsError, read_metrics};
use crate::train::Point;

/// Weight of the newest point in the moving average.
pub const EMA_ALPHA: f64 = 0.05;

#[derive(Debug, Clone, Default)]
pub struct Curves {
    pub loss: Series,
    pub ema: Series,
    pub lr: Series,
}

impl Curves {
    pub fn new() -> Curves {
        Curves::default()
    }

    /// Adds one point's loss (and its moving average) and learning rate. A step before the last
    /// one or a value that is not finite is left out, as [`Series::push`] does.
    pub fn add(&mut self, p: &Point) {
        if let Some(loss) = p.loss
            && self.loss.push(p.step, loss)
        {
            let avg = ema(self.ema.last().map(|(_, v)| v), loss, EMA_ALPHA);
            self.ema.push(p.step, avg);
        }
        if let Some(lr) = p.lr {
            self.lr.push(p.step, lr);
        }
    }

    /// The steps of the whole run (the loss's, else the learning rate's).
    pub fn span(&self) -> Option<(u64, u64)> {
        self.loss.span().or_else(|| self.lr.span())
    }

    /// Reads a finished or live `metrics.jsonl` to its end (a missing file is an empty one).
    /// Lines that cannot be read are returned beside the curves; the rest is kept.
    pub fn read(path: &Path) -> Result<(Curves, Vec<MetricsError>), MetricsError> {
        let file = read_metrics(path)?;
        let mut c = Curves::new();
        for p in &file.points {
            c.add(p);
        }
        Ok((c, file.problems))
    }
}
