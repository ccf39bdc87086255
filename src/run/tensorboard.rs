//! TensorBoard scalars: written with the `tensorboard-rs` crate, read back by a small event-file
//! parser (TFRecord framing + the few protobuf fields of `Event`/`Summary` that scalars use), which
//! the tests and `runner` use to check what was logged.

use std::path::{Path, PathBuf};

use tensorboard_rs::summary_writer::SummaryWriter;

/// Writes scalar summaries into one run folder.
pub struct TensorBoard {
    writer: SummaryWriter,
}

impl TensorBoard {
    /// Opens a new event file in `dir` (created if needed).
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            writer: SummaryWriter::new(dir),
        })
    }

    /// Logs `value` under `tag` at `step` (env steps).
    pub fn scalar(&mut self, tag: &str, value: f32, step: u64) {
        self.writer.add_scalar(tag, value, step as usize);
    }

    /// Flushes buffered events to disk.
    pub fn flush(&mut self) {
        self.writer.flush();
    }
}

/// One scalar read back from an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// Tag.
    pub tag: String,
    /// Step.
    pub step: i64,
    /// Value.
    pub value: f32,
}

/// Event files (`events.out.tfevents.*`) in a folder, sorted by name.
pub fn event_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

/// Every scalar in an event file. Fails on a truncated record or a bad length checksum.
pub fn read_scalars(path: &Path) -> std::io::Result<Vec<Scalar>> {
    let bytes = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 12)
            .ok_or_else(|| invalid("truncated record header"))?;
        let len = u64::from_le_bytes(header[..8].try_into().expect("8 bytes")) as usize;
        let len_crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if masked_crc32c(&header[..8]) != len_crc {
            return Err(invalid("record length checksum mismatch"));
        }
        let data = bytes
            .get(pos + 12..pos + 12 + len)
            .ok_or_else(|| invalid("truncated record"))?;
        let data_crc = bytes
            .get(pos + 12 + len..pos + 16 + len)
            .ok_or_else(|| invalid("truncated record checksum"))?;
        if masked_crc32c(data) != u32::from_le_bytes(data_crc.try_into().expect("4 bytes")) {
            return Err(invalid("record data checksum mismatch"));
        }
        parse_event(data, &mut out)?;
        pos += 16 + len;
    }
    Ok(out)
}

fn masked_crc32c(data: &[u8]) -> u32 {
    tensorboard_rs::masked_crc32c::masked_crc32c(data)
}

/// Minimal protobuf reader: `(field, wire type, payload)` items.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

enum Payload<'a> {
    Varint(u64),
    /// A 64-bit field (wall time); its value is not needed.
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> std::io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| invalid("truncated varint"))?;
            self.pos += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid("varint too long"))
    }

    fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
        let s = self
            .data
            .get(self.pos..self.pos + n)
            .ok_or_else(|| invalid("truncated field"))?;
        self.pos += n;
        Ok(s)
    }

    fn next(&mut self) -> std::io::Result<Option<(u64, Payload<'a>)>> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Payload::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Payload::Bytes(self.take(n)?)
            }
            5 => Payload::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4"))),
            _ => return Err(invalid("unsupported protobuf wire type")),
        };
        Ok(Some((key >> 3, payload)))
    }
}

/// `Event { 2: step, 5: Summary { 1: Value { 1: tag, 2: simple_value } } }`.
fn parse_event(data: &[u8], out: &mut Vec<Scalar>) -> std::io::Result<()> {
    let mut step = 0i64;
    let mut values = Vec::new();
    let mut event = Fields { data, pos: 0 };
    while let Some((field, payload)) = event.next()? {
        match (field, payload) {
            (2, Payload::Varint(v)) => step = v as i64,
            (5, Payload::Bytes(summary)) => {
                let mut summary = Fields {
                    data: summary,
                    pos: 0,
                };
                while let Some((f, p)) = summary.next()? {
                    if let (1, Payload::Bytes(value)) = (f, p) {
                        let mut value = Fields {
                            data: value,
                            pos: 0,
                        };
                        let (mut tag, mut simple) = (None, None);
                        while let Some((vf, vp)) = value.next()? {
                            match (vf, vp) {
                                (1, Payload::Bytes(t)) => {
                                    tag = Some(String::from_utf8_lossy(t).to_string())
                                }
                                (2, Payload::Fixed32(bits)) => simple = Some(f32::from_bits(bits)),
                                _ => {}
                            }
                        }
                        if let (Some(tag), Some(value)) = (tag, simple) {
                            values.push((tag, value));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(
        values
            .into_iter()
            .map(|(tag, value)| Scalar { tag, step, value }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_scalars_read_back() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut tb = TensorBoard::create(dir.path()).unwrap();
            tb.scalar("train/return", 1.5, 10);
            tb.scalar("train/loss", -0.25, 20);
            tb.flush();
        }
        let files = event_files(dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        let scalars = read_scalars(&files[0]).unwrap();
        assert!(
            scalars.contains(&Scalar {
                tag: "train/return".into(),
                step: 10,
                value: 1.5
            }),
            "{scalars:?}"
        );
        assert!(scalars.contains(&Scalar {
            tag: "train/loss".into(),
            step: 20,
            value: -0.25
        }));
    }
}
