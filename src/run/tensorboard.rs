//! TensorBoard scalars and images: event files written here (TFRecord framing of `Event` protos
//! from the `tensorboard-proto` crate, with their masked CRC-32C checksums), and read back by a
//! small event-file parser (the few protobuf fields of `Event`/`Summary` that scalars and images
//! use), which the tests and `runner` use to check what was logged.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protobuf::{Message, RepeatedField};
use tensorboard_proto::event::Event;
use tensorboard_proto::summary::{Summary, Summary_Image, Summary_Value};

/// Writes scalar and image summaries into one event file of a run folder.
pub struct TensorBoard {
    file: BufWriter<File>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl TensorBoard {
    /// Opens a new event file `events.out.tfevents.<time>.<host>.<pid>.0` in `dir` (created if
    /// needed) and writes its file-version event.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "events.out.tfevents.{:010}.{}.{}.0",
            now() as u64,
            super::lock::hostname(),
            std::process::id()
        );
        let mut tb = Self {
            file: BufWriter::new(File::create(dir.join(name))?),
        };
        let mut version = Event::new();
        version.set_wall_time(now());
        version.set_file_version("brain.Event:2".to_string());
        tb.write_event(&version)?;
        tb.file.flush()?;
        Ok(tb)
    }

    /// Appends one event as a TFRecord: length, its masked CRC, the bytes, their masked CRC.
    fn write_event(&mut self, event: &Event) -> std::io::Result<()> {
        let data = event.write_to_bytes().map_err(std::io::Error::other)?;
        let len = (data.len() as u64).to_le_bytes();
        self.file.write_all(&len)?;
        self.file.write_all(&masked_crc32c(&len).to_le_bytes())?;
        self.file.write_all(&data)?;
        self.file.write_all(&masked_crc32c(&data).to_le_bytes())
    }

    fn write_summary(&mut self, value: Summary_Value, step: u64) -> std::io::Result<()> {
        let mut summary = Summary::new();
        summary.set_value(RepeatedField::from(vec![value]));
        let mut event = Event::new();
        event.set_wall_time(now());
        event.set_step(step as i64);
        event.set_summary(summary);
        self.write_event(&event)
    }

    /// Logs `value` under `tag` at `step` (env steps).
    pub fn scalar(&mut self, tag: &str, value: f32, step: u64) -> std::io::Result<()> {
        let mut v = Summary_Value::new();
        v.set_tag(tag.to_string());
        v.set_simple_value(value);
        self.write_summary(v, step)
    }

    /// Logs an 8-bit grayscale image (`width * height` bytes, rows top to bottom) under `tag`
    /// at `step`, PNG-encoded as TensorBoard's image dashboard expects.
    pub fn gray_image(
        &mut self,
        tag: &str,
        pixels: &[u8],
        width: usize,
        height: usize,
        step: u64,
    ) -> std::io::Result<()> {
        let png_bytes =
            crate::sim::png_out::encode_png(pixels, width, height, png::ColorType::Grayscale)
                .map_err(std::io::Error::other)?;
        let mut image = Summary_Image::new();
        image.set_height(height as i32);
        image.set_width(width as i32);
        // 1 = grayscale.
        image.set_colorspace(1);
        image.set_encoded_image_string(png_bytes);
        let mut value = Summary_Value::new();
        value.set_tag(tag.to_string());
        value.set_image(image);
        self.write_summary(value, step)
    }

    /// Writes buffered events to disk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
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

/// One image read back from an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Tag.
    pub tag: String,
    /// Step.
    pub step: i64,
    /// Width in pixels, as the summary states it.
    pub width: i32,
    /// Height in pixels, as the summary states it.
    pub height: i32,
    /// The encoded image (PNG).
    pub encoded: Vec<u8>,
}

/// What one summary value holds.
enum Logged {
    Scalar(Scalar),
    Image(Image),
}

/// Every scalar in an event file. Fails on a truncated record or a bad length checksum.
pub fn read_scalars(path: &Path) -> std::io::Result<Vec<Scalar>> {
    Ok(read_events(path)?
        .into_iter()
        .filter_map(|l| match l {
            Logged::Scalar(s) => Some(s),
            Logged::Image(_) => None,
        })
        .collect())
}

/// Every image in an event file. Fails as [`read_scalars`] does.
pub fn read_images(path: &Path) -> std::io::Result<Vec<Image>> {
    Ok(read_events(path)?
        .into_iter()
        .filter_map(|l| match l {
            Logged::Image(i) => Some(i),
            Logged::Scalar(_) => None,
        })
        .collect())
}

fn read_events(path: &Path) -> std::io::Result<Vec<Logged>> {
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

/// TFRecord's masked CRC-32C of `data`: the checksum rotated right by 15 bits plus a constant.
fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
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

/// `Event { 2: step, 5: Summary { 1: Value { 1: tag, 2: simple_value, 4: Image } } }`.
fn parse_event(data: &[u8], out: &mut Vec<Logged>) -> std::io::Result<()> {
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
                        values.push(parse_value(value)?);
                    }
                }
            }
            _ => {}
        }
    }
    for (tag, simple, image) in values {
        let Some(tag) = tag else { continue };
        if let Some(value) = simple {
            out.push(Logged::Scalar(Scalar { tag, step, value }));
        } else if let Some((width, height, encoded)) = image {
            out.push(Logged::Image(Image {
                tag,
                step,
                width,
                height,
                encoded,
            }));
        }
    }
    Ok(())
}

/// A summary image's (width, height, encoded bytes).
type ImageFields = (i32, i32, Vec<u8>);

/// `Value { 1: tag, 2: simple_value, 4: Image { 1: height, 2: width, 4: encoded } }`.
fn parse_value(data: &[u8]) -> std::io::Result<(Option<String>, Option<f32>, Option<ImageFields>)> {
    let mut value = Fields { data, pos: 0 };
    let (mut tag, mut simple, mut image) = (None, None, None);
    while let Some((field, payload)) = value.next()? {
        match (field, payload) {
            (1, Payload::Bytes(t)) => tag = Some(String::from_utf8_lossy(t).to_string()),
            (2, Payload::Fixed32(bits)) => simple = Some(f32::from_bits(bits)),
            (4, Payload::Bytes(img)) => {
                let mut fields = Fields { data: img, pos: 0 };
                let (mut width, mut height, mut encoded) = (0, 0, Vec::new());
                while let Some((f, p)) = fields.next()? {
                    match (f, p) {
                        (1, Payload::Varint(h)) => height = h as i32,
                        (2, Payload::Varint(w)) => width = w as i32,
                        (4, Payload::Bytes(b)) => encoded = b.to_vec(),
                        _ => {}
                    }
                }
                image = Some((width, height, encoded));
            }
            _ => {}
        }
    }
    Ok((tag, simple, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_checksum_is_tfrecords_masked_crc32c() {
        // CRC-32C("123456789") is 0xE3069283 (the standard check value), then masked.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(
            masked_crc32c(b"123456789"),
            0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn written_scalars_read_back() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut tb = TensorBoard::create(dir.path()).unwrap();
            tb.scalar("train/return", 1.5, 10).unwrap();
            tb.scalar("train/loss", -0.25, 20).unwrap();
            tb.flush().unwrap();
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

    #[test]
    fn written_images_read_back_as_pngs_of_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let (width, height) = (5, 3);
        let pixels: Vec<u8> = (0..width * height).map(|i| (i * 17) as u8).collect();
        {
            let mut tb = TensorBoard::create(dir.path()).unwrap();
            tb.scalar("eval/distance", 2.0, 7).unwrap();
            tb.gray_image("eval/depth", &pixels, width, height, 7)
                .unwrap();
            tb.flush().unwrap();
        }
        let file = &event_files(dir.path()).unwrap()[0];
        assert_eq!(
            read_scalars(file).unwrap().len(),
            1,
            "the image is not a scalar"
        );
        let images = read_images(file).unwrap();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!((img.tag.as_str(), img.step), ("eval/depth", 7));
        assert_eq!((img.width, img.height), (5, 3));
        let decoder = png::Decoder::new(std::io::Cursor::new(&img.encoded));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (5, 3));
        assert_eq!(&buf[..info.buffer_size()], &pixels[..]);
    }
}
