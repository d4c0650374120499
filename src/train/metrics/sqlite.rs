//! ai-toolkit's `loss_log.db` (its UI logger, `toolkit/logging_aitk.py`): SQLite in WAL mode with
//! `steps(step PRIMARY KEY, wall_time)` and `metrics(step, key, value_real, value_text)`, keys
//! `loss/loss` and `learning_rate`. Opened read-only for each read (the trainer holds it open for
//! writing). A resumed job deletes the rows past its resume step and writes them again, so a
//! read takes every row newer than the last one seen by step *or* by wall time.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::MetricsError;

/// One metric value of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub step: u64,
    pub wall_time: f64,
    pub key: String,
    pub value: f64,
}

#[derive(Debug)]
pub struct LossLog {
    path: PathBuf,
    last_step: i64,
    last_wall_time: f64,
}

impl LossLog {
    pub fn new(path: PathBuf) -> Self {
        LossLog {
            path,
            last_step: -1,
            last_wall_time: f64::NEG_INFINITY,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rows written since the last call.
    pub fn read_new(&mut self, out: &mut Vec<Row>) -> Result<(), MetricsError> {
        let err = |e: rusqlite::Error| MetricsError::Sqlite {
            path: self.path.clone(),
            what: e.to_string(),
        };
        let db = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        let mut q = db
            .prepare(
                "SELECT m.step, s.wall_time, m.key, m.value_real FROM metrics m \
                 JOIN steps s ON s.step = m.step \
                 WHERE (m.step > ?1 OR s.wall_time > ?2) AND m.value_real IS NOT NULL \
                 ORDER BY s.wall_time, m.step",
            )
            .map_err(err)?;
        let rows = q
            .query_map((self.last_step, self.last_wall_time), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .map_err(err)?;
        for row in rows {
            let (step, wall_time, key, value) = row.map_err(err)?;
            self.last_step = self.last_step.max(step);
            self.last_wall_time = self.last_wall_time.max(wall_time);
            if let Ok(step) = u64::try_from(step) {
                out.push(Row {
                    step,
                    wall_time,
                    key,
                    value,
                });
            }
        }
        Ok(())
    }
}
