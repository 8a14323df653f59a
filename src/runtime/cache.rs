//! Model caching: compiled-model blobs (`export_model` / `import_model`) and the `CACHE_DIR` store.
//!
//! A blob is laid out so that a cached compile can memory-map the weights where they lie:
//!
//! ```text
//! [weights: the .bin of the compiled graph] [IR v11 XML of the compiled graph] [header text] [trailer]
//! trailer = header length, XML length, weights length, checksum of header + XML (u64 LE each), magic (8 bytes)
//! ```
//!
//! The weights come first, so the offsets the XML gives are offsets into the file and the mapping is
//! page-aligned. The header names the ferrovino version, the target ISA (`x86_64+avx2+fma`), the device and a
//! hash of the compile configuration; a blob whose version, ISA or configuration differs is a cache miss. The
//! stored graph is the device's transformed graph, so loading it skips model reading (ONNX conversion) and the
//! transformation passes: only the device's planning (constant folding, weight packing) runs again.

use super::plugin::{CompiledModel, RequestState};
use super::properties::{Config, PropertyValue, keys};
use crate::error::{Error, Result};
use crate::frontends::ir::{self, Weights};
use crate::ir::{ElementType, Model, Tensor};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The last eight bytes of every blob.
pub const MAGIC: [u8; 8] = *b"FVBLOB01";
/// Four u64 fields and the magic.
const TRAILER_LEN: usize = 4 * 8 + 8;

/// A fast non-cryptographic 64-bit hash: four multiply-rotate lanes over 8-byte words. Each `write` is
/// length-prefixed, so a sequence of writes hashes unambiguously.
#[derive(Debug, Clone)]
pub struct Hash64 {
    lanes: [u64; 4],
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn mix(acc: u64, word: u64) -> u64 {
    (acc ^ word.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = bytes.len().min(8);
    w[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(w)
}

impl Default for Hash64 {
    fn default() -> Self {
        Hash64 {
            lanes: [P1, P2, P1 ^ P2, P1.wrapping_add(P2)],
        }
    }
}

impl Hash64 {
    /// Adds `bytes` (with their length).
    pub fn write(&mut self, bytes: &[u8]) {
        self.lanes[0] = mix(self.lanes[0], bytes.len() as u64);
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            for (lane, w) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = mix(*lane, word(w));
            }
        }
        for (lane, w) in self.lanes.iter_mut().zip(blocks.remainder().chunks(8)) {
            *lane = mix(*lane, word(w));
        }
    }

    /// Adds a string.
    pub fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes());
    }

    /// The hash of everything written.
    pub fn finish(&self) -> u64 {
        self.lanes
            .iter()
            .fold(0x27D4_EB2F_1656_67C5, |acc, &l| mix(acc, l))
    }
}

/// The instruction-set string a blob is bound to: the architecture and the SIMD extensions the kernels use.
pub fn target_isa() -> String {
    let mut isa = std::env::consts::ARCH.to_string();
    #[cfg(target_arch = "x86_64")]
    {
        let features = [
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
        ];
        for (name, present) in features {
            if present {
                isa.push('+');
                isa.push_str(name);
            }
        }
    }
    isa
}

/// What a blob was compiled for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The ferrovino version that wrote it.
    pub version: String,
    /// The target ISA ([`target_isa`]).
    pub isa: String,
    /// The device that compiled it.
    pub device: String,
    /// The hash of the compile configuration ([`config_hash`]).
    pub config_hash: u64,
}

impl BlobHeader {
    /// The header a blob written now, by this build on this machine, carries.
    pub fn current(device: &str, config_hash: u64) -> BlobHeader {
        BlobHeader {
            version: super::core::VERSION.to_string(),
            isa: target_isa(),
            device: device.to_string(),
            config_hash,
        }
    }

    fn to_text(&self) -> String {
        format!(
            "version={}\nisa={}\ndevice={}\nconfig={:016x}\n",
            self.version, self.isa, self.device, self.config_hash
        )
    }

    fn parse(text: &str) -> Result<BlobHeader> {
        let field = |name: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| Error::Parse(format!("blob header has no '{name}' field")))
        };
        let config = field("config")?;
        Ok(BlobHeader {
            version: field("version")?,
            isa: field("isa")?,
            device: field("device")?,
            config_hash: u64::from_str_radix(&config, 16).map_err(|_| {
                Error::Parse(format!("blob header: config hash '{config}' is not hex"))
            })?,
        })
    }

    /// Why a blob with this header cannot serve where `expected` is needed (`None`: it can). The configuration
    /// is compared only when `with_config`.
    pub fn mismatch(&self, expected: &BlobHeader, with_config: bool) -> Option<String> {
        let differs = |what: &str, got: &str, want: &str| {
            Some(format!(
                "the blob was compiled for {what} '{got}', this runtime needs '{want}'"
            ))
        };
        if self.version != expected.version {
            return differs("ferrovino version", &self.version, &expected.version);
        }
        if self.isa != expected.isa {
            return differs("ISA", &self.isa, &expected.isa);
        }
        if self.device != expected.device {
            return differs("device", &self.device, &expected.device);
        }
        if with_config && self.config_hash != expected.config_hash {
            return Some("the blob was compiled with another configuration".into());
        }
        None
    }
}

/// Serializes a compiled graph into a blob (see the module docs for the layout).
pub fn write_blob(header: &BlobHeader, model: &Model) -> Result<Vec<u8>> {
    let (xml, weights) = ir::serialize(model, false)?;
    let head = header.to_text();
    let mut check = Hash64::default();
    check.write_str(&head);
    check.write_str(&xml);
    let mut blob = weights;
    blob.reserve(xml.len() + head.len() + TRAILER_LEN);
    blob.extend_from_slice(xml.as_bytes());
    blob.extend_from_slice(head.as_bytes());
    for n in [head.len() as u64, xml.len() as u64] {
        blob.extend_from_slice(&n.to_le_bytes());
    }
    let weights_len = blob.len() - xml.len() - head.len() - 16;
    blob.extend_from_slice(&(weights_len as u64).to_le_bytes());
    blob.extend_from_slice(&check.finish().to_le_bytes());
    blob.extend_from_slice(&MAGIC);
    Ok(blob)
}

/// Exports a compiled model as a blob (`CompiledModel.export_model()`); its header names the model's first
/// execution device.
pub fn export_blob(compiled: &dyn CompiledModel) -> Result<Vec<u8>> {
    let device = match compiled.get_property(keys::EXECUTION_DEVICES)? {
        PropertyValue::List(devices) => devices.first().map(|d| d.to_string()),
        other => Some(other.to_string()),
    }
    .unwrap_or_default();
    write_blob(&BlobHeader::current(&device, 0), &compiled.export_model()?)
}

/// Where a blob's bytes are: a mapped cache file (its weights are viewed, not copied) or memory.
pub enum BlobSource<'a> {
    /// A memory-mapped blob file.
    Mapped(Arc<memmap2::Mmap>),
    /// Blob bytes (`import_model` of a bytes object); the weights are copied.
    Bytes(&'a [u8]),
}

fn corrupt(what: &str) -> Error {
    Error::Parse(format!("corrupt or truncated model blob: {what}"))
}

/// The trailer's fields: header, XML and weights lengths and the checksum; the lengths are checked against the
/// blob size.
fn read_trailer(bytes: &[u8]) -> Result<(usize, usize, usize, u64)> {
    let body_len = bytes
        .len()
        .checked_sub(TRAILER_LEN)
        .ok_or_else(|| corrupt(&format!("{} bytes are too few", bytes.len())))?;
    let trailer = &bytes[body_len..];
    if trailer[32..] != MAGIC {
        return Err(corrupt("the end marker is missing (not a ferrovino blob?)"));
    }
    let field = |i: usize| word(&trailer[i * 8..i * 8 + 8]);
    let [head, xml, weights] = [field(0), field(1), field(2)].map(|n| usize::try_from(n).ok());
    let (Some(head), Some(xml), Some(weights)) = (head, xml, weights) else {
        return Err(corrupt("a length does not fit in memory"));
    };
    let total = head.checked_add(xml).and_then(|n| n.checked_add(weights));
    if total != Some(body_len) {
        return Err(corrupt(&format!(
            "the parts ({weights} + {xml} + {head} bytes) do not add up to the {body_len}-byte body"
        )));
    }
    Ok((head, xml, weights, field(3)))
}

/// Reads a blob back: its header and the compiled graph (checked against the blob's checksum).
pub fn read_blob(source: BlobSource<'_>) -> Result<(BlobHeader, Model)> {
    let bytes: &[u8] = match &source {
        BlobSource::Mapped(map) => map,
        BlobSource::Bytes(b) => b,
    };
    let (head_len, xml_len, weights_len, checksum) = read_trailer(bytes)?;
    let xml = &bytes[weights_len..weights_len + xml_len];
    let head = &bytes[weights_len + xml_len..weights_len + xml_len + head_len];
    let mut check = Hash64::default();
    check.write(head);
    check.write(xml);
    if check.finish() != checksum {
        return Err(corrupt(
            "the checksum of its header and graph does not match",
        ));
    }
    let header = BlobHeader::parse(
        std::str::from_utf8(head).map_err(|_| corrupt("the header is not UTF-8"))?,
    )?;
    let weights = match &source {
        BlobSource::Mapped(map) => Weights::Mapped(map.clone()),
        BlobSource::Bytes(b) => Weights::Bytes(Tensor::from_bytes(
            ElementType::U8,
            &[weights_len],
            &b[..weights_len],
        )?),
    };
    let model = ir::read_model(xml, weights).map_err(|e| corrupt(&e.to_string()))?;
    Ok((header, model))
}

/// Hashes a model's graph: every node's type, name, attributes, output types, shapes and names, its inputs,
/// and the bytes of every Constant.
pub fn model_hash(model: &Model) -> Result<u64> {
    let order = model.ordered_ops()?;
    let index: std::collections::HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    let mut h = Hash64::default();
    for node in &order {
        let info = node.type_info();
        h.write_str(info.name);
        h.write_str(info.version);
        h.write_str(&node.friendly_name());
        for input in node.inputs() {
            let producer = index.get(&input.node.id()).copied().unwrap_or(usize::MAX);
            h.write(&(producer as u64).to_le_bytes());
            h.write(&(input.index as u64).to_le_bytes());
        }
        for output in node.outputs() {
            h.write_str(&format!(
                "{:?} {:?} {:?}",
                output.element_type(),
                output.shape(),
                output.names()
            ));
        }
        let op = node.op();
        let mut attrs = AttrHasher(&mut h);
        op.clone_op().visit_attributes(&mut attrs)?;
        if let Some(c) = op
            .as_any()
            .downcast_ref::<crate::ops::structure::Constant>()
        {
            h.write(c.value.bytes());
        }
    }
    Ok(h.finish())
}

/// Feeds attribute names and values to a hash.
struct AttrHasher<'a>(&'a mut Hash64);

impl crate::ir::AttributeVisitor for AttrHasher<'_> {
    fn on(&mut self, name: &str, attr: &mut dyn crate::ir::Attribute) -> Result<()> {
        self.0.write_str(name);
        self.0.write_str(&format!("{:?}", attr.get()));
        Ok(())
    }
}

/// Hashes a model file by identity, as OpenVINO does: its absolute path, size and modification time (and those
/// of the `.bin` beside an `.xml`), so that a cached compile does not read the file at all.
pub fn file_hash(path: &Path) -> Result<u64> {
    let mut h = Hash64::default();
    let mut files = vec![path.to_path_buf()];
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
    {
        files.push(path.with_extension("bin"));
    }
    for file in files {
        let abs = std::fs::canonicalize(&file).unwrap_or(file);
        h.write_str(&abs.to_string_lossy());
        if let Ok(meta) = std::fs::metadata(&abs) {
            h.write(&meta.len().to_le_bytes());
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.write(&mtime.to_le_bytes());
        }
    }
    Ok(h.finish())
}

/// Hashes a compile configuration (sorted keys; `CACHE_DIR` is left out, as it does not change the result).
pub fn config_hash(config: &Config) -> u64 {
    let mut h = Hash64::default();
    for (k, v) in config {
        if k != keys::CACHE_DIR {
            h.write_str(k);
            h.write_str(&v.to_string());
        }
    }
    h.finish()
}

/// The cache key of a model (by content or by file), a device and a configuration hash.
pub fn cache_key(model_hash: u64, device: &str, config_hash: u64) -> u64 {
    let mut h = Hash64::default();
    h.write(&model_hash.to_le_bytes());
    h.write_str(device);
    h.write(&config_hash.to_le_bytes());
    h.finish()
}

/// The blob files of one `CACHE_DIR`: `<key>.blob`, written atomically (a temporary file renamed into place, so
/// a blob mapped by a live compiled model is never rewritten in place).
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// The cache in `dir` (created when a blob is first stored).
    pub fn new(dir: impl Into<PathBuf>) -> ModelCache {
        ModelCache { dir: dir.into() }
    }

    /// The blob file of a key.
    pub fn path(&self, key: u64) -> PathBuf {
        self.dir.join(format!("{key:016x}.blob"))
    }

    /// The compiled graph stored under `key`, if its header matches `expected`: `Ok(None)` for a miss (no file,
    /// or one written by another version, ISA or configuration), `Err` for a corrupt or unreadable file.
    pub fn load(&self, key: u64, expected: &BlobHeader, mmap: bool) -> Result<Option<Model>> {
        let path = self.path(key);
        if !path.exists() {
            return Ok(None);
        }
        let io = |source| Error::Io {
            context: format!("reading cached blob '{}'", path.display()),
            source,
        };
        let (header, model) = if mmap {
            let file = std::fs::File::open(&path).map_err(io)?;
            // SAFETY: read-only map; blobs are replaced by rename, never rewritten in place.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            read_blob(BlobSource::Mapped(Arc::new(map)))?
        } else {
            read_blob(BlobSource::Bytes(&std::fs::read(&path).map_err(io)?))?
        };
        Ok(header.mismatch(expected, true).is_none().then_some(model))
    }

    /// Stores a compiled graph under `key`.
    pub fn store(&self, key: u64, header: &BlobHeader, model: &Model) -> Result<()> {
        let blob = write_blob(header, model)?;
        let path = self.path(key);
        let tmp = self
            .dir
            .join(format!("{key:016x}.blob.{}.tmp", std::process::id()));
        let io = |source| Error::Io {
            context: format!("writing cached blob '{}'", path.display()),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&blob).map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

/// A compiled model loaded from a blob: the device's model, reporting `LOADED_FROM_CACHE` = true.
pub struct LoadedModel(pub Arc<dyn CompiledModel>);

impl CompiledModel for LoadedModel {
    fn model(&self) -> &Model {
        self.0.model()
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        self.0.infer(inputs, state)
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::LOADED_FROM_CACHE => Ok(PropertyValue::Bool(true)),
            k => self.0.get_property(k),
        }
    }

    fn executed_steps(&self) -> Vec<super::plugin::ExecutedStep> {
        self.0.executed_steps()
    }

    fn export_model(&self) -> Result<Model> {
        self.0.export_model()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Node, PartialShape};
    use crate::ops::structure::{Constant, Parameter, ResultOp};

    /// `x + c` with a 3-element constant.
    fn add_model(c: [f32; 3]) -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[3]),
            )),
            vec![],
        )
        .unwrap();
        let k = Node::new(
            Box::new(Constant::new(Tensor::from_vec(&[3], c.to_vec()).unwrap())),
            vec![],
        )
        .unwrap();
        let add = Node::new(
            crate::ops::registry::create("Add", 1).unwrap(),
            vec![p.output(0), k.output(0)],
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![add.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "add").unwrap()
    }

    #[test]
    fn hash_depends_on_every_byte_and_split() {
        let hash = |parts: &[&[u8]]| {
            let mut h = Hash64::default();
            parts.iter().for_each(|p| h.write(p));
            h.finish()
        };
        let data: Vec<u8> = (0..100u8).collect();
        let base = hash(&[&data]);
        for i in [0, 31, 32, 99] {
            let mut d = data.clone();
            d[i] ^= 1;
            assert_ne!(hash(&[&d]), base, "byte {i}");
        }
        assert_ne!(hash(&[&data[..50], &data[50..]]), base);
        assert_ne!(hash(&[b"ab", b""]), hash(&[b"a", b"b"]));
        assert_eq!(hash(&[&data]), base);
    }

    #[test]
    fn model_hash_sees_weights_and_structure() {
        let model = add_model([1.0, 2.0, 3.0]);
        let a = model_hash(&model).unwrap();
        assert_eq!(a, model_hash(&model.deep_clone().unwrap()).unwrap());
        // Friendly names are part of the graph (as in OpenVINO, where generated names make rebuilt models miss).
        let renamed = model.deep_clone().unwrap();
        renamed.parameters[0].set_friendly_name("other");
        assert_ne!(a, model_hash(&renamed).unwrap());
        let named_like_model = |c| {
            let m = add_model(c);
            for (n, copy) in model
                .ordered_ops()
                .unwrap()
                .iter()
                .zip(m.ordered_ops().unwrap())
            {
                copy.set_friendly_name(&n.friendly_name());
            }
            model_hash(&m).unwrap()
        };
        assert_eq!(a, named_like_model([1.0, 2.0, 3.0]));
        assert_ne!(a, named_like_model([1.0, 2.0, 4.0]));
    }

    #[test]
    fn blob_round_trip_keeps_header_graph_and_weights() {
        let header = BlobHeader::current("CPU", 7);
        assert!(header.isa.starts_with(std::env::consts::ARCH));
        let blob = write_blob(&header, &add_model([1.0, 2.0, 3.0])).unwrap();
        assert_eq!(blob[blob.len() - 8..], MAGIC);
        // The weights come first: the constant's bytes open the blob.
        assert_eq!(blob[..4], 1.0f32.to_le_bytes());
        let (back, model) = read_blob(BlobSource::Bytes(&blob)).unwrap();
        assert_eq!(back, header);
        let consts: Vec<Vec<f64>> = model
            .ordered_ops()
            .unwrap()
            .iter()
            .filter_map(|n| {
                n.op()
                    .as_any()
                    .downcast_ref::<Constant>()
                    .map(|c| c.value.to_f64_vec())
            })
            .collect();
        assert_eq!(consts, vec![vec![1.0, 2.0, 3.0]]);
    }

    #[test]
    fn corrupt_and_truncated_blobs_are_errors() {
        let blob = write_blob(&BlobHeader::current("CPU", 1), &add_model([1.0; 3])).unwrap();
        for bad in [
            blob[..blob.len() - 1].to_vec(),
            blob[..10].to_vec(),
            Vec::new(),
            {
                let mut b = blob.clone();
                let mid = 12 + (b.len() - 12 - TRAILER_LEN) / 2;
                b[mid] ^= 0x55;
                b
            },
            {
                let mut b = blob.clone();
                let n = b.len();
                b[n - TRAILER_LEN] ^= 1;
                b
            },
        ] {
            let e = read_blob(BlobSource::Bytes(&bad))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.is_some_and(|e| e.contains("corrupt")),
                "{} bytes",
                bad.len()
            );
        }
    }

    #[test]
    fn header_mismatch_names_what_differs() {
        let want = BlobHeader::current("CPU", 1);
        let mut got = want.clone();
        assert_eq!(got.mismatch(&want, true), None);
        got.config_hash = 2;
        assert!(got.mismatch(&want, true).is_some());
        assert_eq!(got.mismatch(&want, false), None);
        got.isa = "riscv64".into();
        assert!(got.mismatch(&want, false).unwrap().contains("riscv64"));
        got.version = "0.0.0".into();
        assert!(got.mismatch(&want, false).unwrap().contains("version"));
    }

    #[test]
    fn cache_stores_loads_and_misses() {
        let dir = std::env::temp_dir().join(format!("ferrovino-cache-test-{}", std::process::id()));
        let cache = ModelCache::new(&dir);
        let header = BlobHeader::current("CPU", 3);
        assert!(cache.load(1, &header, true).unwrap().is_none());
        cache.store(1, &header, &add_model([5.0; 3])).unwrap();
        for mmap in [true, false] {
            assert!(cache.load(1, &header, mmap).unwrap().is_some());
        }
        let other_config = BlobHeader::current("CPU", 4);
        assert!(cache.load(1, &other_config, true).unwrap().is_none());
        std::fs::write(cache.path(2), b"garbage").unwrap();
        assert!(cache.load(2, &header, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
