//! Tensors: an element type, a static shape and bytes that are owned, mapped from a weights file,
//! or borrowed from a foreign buffer (a numpy array) that is kept alive by the tensor.

use super::element_type::ElementType;
use super::minifloat;
use super::scalar::Scalar;
use super::shape::{fmt_shape, num_elements};
use crate::error::{Error, Result};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A 64-byte-aligned chunk, so owned buffers suit SIMD loads of every element type.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Chunk([u8; 64]);

/// Where a tensor's bytes live.
enum Storage {
    /// Memory owned by the tensor.
    Owned { chunks: Vec<Chunk>, len: usize },
    /// A region of a read-only memory-mapped file. A region that is not aligned for its element type is read
    /// as values through `aligned`, a copy made on the first such read (see [`Tensor::typed`]).
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
        aligned: OnceLock<Vec<Chunk>>,
    },
    /// Memory owned by someone else, kept alive by `_owner`.
    Foreign {
        ptr: *mut u8,
        len: usize,
        _owner: Box<dyn Any + Send + Sync>,
    },
}

// SAFETY: `Foreign` memory is only reached through `&self`/`&mut self` of the tensor that keeps its owner
// alive; the owner promises the pointer is valid for `len` bytes for its whole life.
unsafe impl Send for Storage {}
// SAFETY: see above; shared access only reads.
unsafe impl Sync for Storage {}

impl Storage {
    fn owned_zeroed(len: usize) -> Storage {
        Storage::Owned {
            chunks: vec![Chunk([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned { chunks, len } => {
                // SAFETY: `chunks` holds at least `len` initialised bytes, contiguously.
                unsafe { std::slice::from_raw_parts(chunks.as_ptr() as *const u8, *len) }
            }
            Storage::Mapped {
                map, offset, len, ..
            } => &map[*offset..*offset + *len],
            Storage::Foreign { ptr, len, .. } => {
                if *len == 0 {
                    &[]
                } else {
                    // SAFETY: the owner keeps `ptr` valid for `len` bytes (see `Tensor::from_foreign`).
                    unsafe { std::slice::from_raw_parts(*ptr, *len) }
                }
            }
        }
    }
}

/// An n-dimensional array of one element type with a static shape.
///
/// Cloning is cheap: clones share the bytes. Writing through [`Tensor::bytes_mut`] copies first when the bytes
/// are shared or read-only (copy-on-write), except for foreign buffers lent as writable.
#[derive(Clone)]
pub struct Tensor {
    element_type: ElementType,
    shape: Vec<usize>,
    storage: Arc<Storage>,
    writable_foreign: bool,
}

impl Tensor {
    /// A zero-filled tensor.
    pub fn zeros(element_type: ElementType, shape: &[usize]) -> Tensor {
        let len = element_type.bytes_for(num_elements(shape));
        Tensor {
            element_type,
            shape: shape.to_vec(),
            storage: Arc::new(Storage::owned_zeroed(len)),
            writable_foreign: false,
        }
    }

    /// A tensor of `element_type` and `shape` in the memory of `spare` when `spare` owns its bytes alone and has
    /// room for them (the contents are then whatever `spare` held: the caller overwrites every element); a
    /// zero-filled tensor otherwise. This is how the CPU plan reuses buffers across inferences.
    pub fn recycled(spare: Option<Tensor>, element_type: ElementType, shape: &[usize]) -> Tensor {
        let need = element_type.bytes_for(num_elements(shape));
        if let Some(mut t) = spare
            && let Some(Storage::Owned { chunks, len }) = Arc::get_mut(&mut t.storage)
            && chunks.len() * 64 >= need
        {
            *len = need;
            t.element_type = element_type;
            t.shape.clear();
            t.shape.extend_from_slice(shape);
            return t;
        }
        Tensor::zeros(element_type, shape)
    }

    /// This tensor, when it owns its bytes and no other tensor shares them (so that writing them changes no
    /// other tensor); itself as the error otherwise.
    pub fn into_unique(mut self) -> std::result::Result<Tensor, Tensor> {
        if matches!(Arc::get_mut(&mut self.storage), Some(Storage::Owned { .. })) {
            Ok(self)
        } else {
            Err(self)
        }
    }

    /// A tensor holding a copy of `bytes`, which must be exactly the packed size of the shape.
    pub fn from_bytes(element_type: ElementType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
        let mut t = Tensor::zeros(element_type, shape);
        if bytes.len() != t.byte_size() {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for a {element_type} tensor of shape {} that needs {}",
                bytes.len(),
                fmt_shape(shape),
                t.byte_size()
            )));
        }
        t.bytes_mut().copy_from_slice(bytes);
        Ok(t)
    }

    /// A tensor that takes its values from a vector of a Rust scalar type.
    pub fn from_vec<T: Scalar>(shape: &[usize], values: Vec<T>) -> Result<Tensor> {
        Tensor::from_slice(shape, &values)
    }

    /// A tensor holding a copy of `values`.
    pub fn from_slice<T: Scalar>(shape: &[usize], values: &[T]) -> Result<Tensor> {
        if values.len() != num_elements(shape) {
            return Err(Error::InvalidArgument(format!(
                "{} values given for shape {}",
                values.len(),
                fmt_shape(shape)
            )));
        }
        let mut t = Tensor::zeros(T::TYPE, shape);
        t.typed_mut::<T>()?.copy_from_slice(values);
        Ok(t)
    }

    /// A scalar (rank-0) tensor.
    pub fn scalar<T: Scalar>(v: T) -> Tensor {
        let mut t = Tensor::zeros(T::TYPE, &[]);
        if let Ok(s) = t.typed_mut::<T>() {
            s[0] = v;
        }
        t
    }

    /// A tensor viewing `len` bytes at `offset` of a read-only mapped file, without copying them. Where the
    /// offset does not suit the element type's alignment, the first typed read makes an aligned copy
    /// ([`Tensor::typed`]); one-time readers such as weight packing read through [`Tensor::typed_or_copied`]
    /// and leave none behind.
    pub fn from_mapped(
        element_type: ElementType,
        shape: &[usize],
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    ) -> Result<Tensor> {
        offset.checked_add(len).filter(|&e| e <= map.len()).ok_or_else(|| {
            Error::Parse(format!(
                "weights region [{offset}, {offset}+{len}) lies past the end of the {}-byte weights file",
                map.len()
            ))
        })?;
        let need = element_type.bytes_for(num_elements(shape));
        if need != len {
            return Err(Error::Parse(format!(
                "weights region holds {len} bytes but a {element_type} tensor of shape {} needs {need}",
                fmt_shape(shape)
            )));
        }
        Ok(Tensor {
            element_type,
            shape: shape.to_vec(),
            storage: Arc::new(Storage::Mapped {
                map,
                offset,
                len,
                aligned: OnceLock::new(),
            }),
            writable_foreign: false,
        })
    }

    /// A tensor over foreign memory kept alive by `owner`.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes (and writes, if `writable`) for as long as `owner` lives,
    /// aligned for `element_type`, and `len` must equal the packed size of `shape`.
    pub unsafe fn from_foreign(
        element_type: ElementType,
        shape: &[usize],
        ptr: *mut u8,
        len: usize,
        writable: bool,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Tensor {
        Tensor {
            element_type,
            shape: shape.to_vec(),
            storage: Arc::new(Storage::Foreign {
                ptr,
                len,
                _owner: owner,
            }),
            writable_foreign: writable,
        }
    }

    /// The element type.
    pub fn element_type(&self) -> ElementType {
        self.element_type
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        num_elements(&self.shape)
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packed size in bytes.
    pub fn byte_size(&self) -> usize {
        self.element_type.bytes_for(self.len())
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// True when `self` and `other` view the same bytes.
    pub fn shares_memory_with(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The raw bytes, writable: copies them first unless this tensor owns them alone (or they are a writable
    /// foreign buffer).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let unique_owned = matches!(Arc::get_mut(&mut self.storage), Some(Storage::Owned { .. }));
        let writable_foreign =
            self.writable_foreign && matches!(*self.storage, Storage::Foreign { .. });
        if !unique_owned && !writable_foreign {
            let len = self.storage.bytes().len();
            let mut fresh = Storage::owned_zeroed(len);
            if let Storage::Owned { chunks, .. } = &mut fresh {
                // SAFETY: `chunks` has room for `len` bytes.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(chunks.as_mut_ptr() as *mut u8, len) };
                dst.copy_from_slice(self.storage.bytes());
            }
            self.storage = Arc::new(fresh);
            self.writable_foreign = false;
        }
        match &*self.storage {
            Storage::Foreign { ptr, len, .. } => {
                if *len == 0 {
                    return &mut [];
                }
                // SAFETY: the owner lent this buffer as writable for the tensor's life (`from_foreign`).
                unsafe { std::slice::from_raw_parts_mut(*ptr, *len) }
            }
            _ => match Arc::get_mut(&mut self.storage) {
                Some(Storage::Owned { chunks, len }) => {
                    // SAFETY: `chunks` holds `len` bytes and we hold the only reference.
                    unsafe { std::slice::from_raw_parts_mut(chunks.as_mut_ptr() as *mut u8, *len) }
                }
                _ => &mut [],
            },
        }
    }

    fn check_type<T: Scalar>(&self) -> Result<()> {
        let ok = T::TYPE == self.element_type
            || (T::TYPE == ElementType::U8 && self.element_type == ElementType::Boolean);
        if !ok {
            return Err(Error::Internal(format!(
                "tensor of type {} read as {}",
                self.element_type,
                T::TYPE
            )));
        }
        Ok(())
    }

    /// The bytes, aligned for the element type: those of a misaligned file region come from its aligned copy,
    /// made here the first time.
    fn aligned_bytes(&self) -> &[u8] {
        let bytes = self.bytes();
        match &*self.storage {
            Storage::Mapped { aligned, .. } if !self.is_aligned(bytes) => {
                let chunks = aligned.get_or_init(|| {
                    let mut chunks = vec![Chunk([0; 64]); bytes.len().div_ceil(64)];
                    for (chunk, src) in chunks.iter_mut().zip(bytes.chunks(64)) {
                        chunk.0[..src.len()].copy_from_slice(src);
                    }
                    chunks
                });
                // SAFETY: `chunks` holds at least `bytes.len()` initialised bytes, contiguously.
                unsafe { std::slice::from_raw_parts(chunks.as_ptr() as *const u8, bytes.len()) }
            }
            _ => bytes,
        }
    }

    /// True when `bytes` start at an address aligned for this tensor's element type.
    fn is_aligned(&self, bytes: &[u8]) -> bool {
        (bytes.as_ptr() as usize).is_multiple_of(self.element_type.size().max(1))
    }

    /// The values, borrowed as [`Tensor::typed`] gives them, except for a misaligned file region without an
    /// aligned copy yet: those are copied into a vector the caller owns, so a reader that needs them once
    /// (weight packing) leaves no copy behind in the tensor.
    pub fn typed_or_copied<T: Scalar>(&self) -> Result<Cow<'_, [T]>> {
        self.check_type::<T>()?;
        let bytes = self.bytes();
        match &*self.storage {
            Storage::Mapped { aligned, .. }
                if aligned.get().is_none() && !self.is_aligned(bytes) =>
            {
                let mut values = vec![T::default(); bytes.len() / std::mem::size_of::<T>()];
                // SAFETY: `values` holds exactly `bytes.len()` bytes (the type check makes `T` the element type,
                // whose values fill the bytes exactly), and every bit pattern is a valid value of `T`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        values.as_mut_ptr() as *mut u8,
                        std::mem::size_of_val(values.as_slice()),
                    )
                };
                Ok(Cow::Owned(values))
            }
            _ => self.typed().map(Cow::Borrowed),
        }
    }

    /// Lets the operating system take this tensor's pages out of the process's resident memory when its bytes
    /// are a region of a read-only mapped file; a no-op for memory the tensor owns or borrows. The values stay
    /// readable: the next read maps them back from the file (or its page cache). Weight packing calls this once
    /// it holds its own copy, so a model's original weights and their packed copies are not both resident.
    pub fn release_mapped_pages(&self) {
        #[cfg(unix)]
        if let Storage::Mapped {
            map, offset, len, ..
        } = &*self.storage
        {
            // Only the pages inside the region, so a neighbouring tensor's pages stay as they are (on machines
            // with pages larger than this, the kernel rounds to its own, which costs the neighbour a re-read at
            // most).
            const PAGE: usize = 4096;
            let base = map.as_ptr() as usize;
            let first = (base + offset).next_multiple_of(PAGE);
            let last = (base + offset + len) / PAGE * PAGE;
            if last > first {
                // SAFETY: the map is a read-only shared mapping of a file (`memmap2::Mmap`): dropping its pages
                // discards nothing, and every later read, through borrows taken before this too, sees the
                // file's same bytes again.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        first - base,
                        last - first,
                    )
                };
            }
        }
    }

    /// The values as a slice of the matching Rust type (Boolean reads as `u8`).
    pub fn typed<T: Scalar>(&self) -> Result<&[T]> {
        self.check_type::<T>()?;
        let b = self.aligned_bytes();
        if b.is_empty() {
            return Ok(&[]);
        }
        if !(b.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::Internal("misaligned tensor buffer".into()));
        }
        // SAFETY: type checked above, alignment checked, and every bit pattern is a valid value of T.
        Ok(unsafe {
            std::slice::from_raw_parts(b.as_ptr() as *const T, b.len() / std::mem::size_of::<T>())
        })
    }

    /// The values as a mutable slice (copy-on-write, see [`Tensor::bytes_mut`]).
    pub fn typed_mut<T: Scalar>(&mut self) -> Result<&mut [T]> {
        self.check_type::<T>()?;
        let b = self.bytes_mut();
        if b.is_empty() {
            return Ok(&mut []);
        }
        if !(b.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::Internal("misaligned tensor buffer".into()));
        }
        let n = b.len() / std::mem::size_of::<T>();
        // SAFETY: as in `typed`, and we hold the only writable view.
        Ok(unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut T, n) })
    }

    /// The same bytes under a new shape with the same element count.
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor> {
        if num_elements(shape) != self.len() {
            return Err(Error::Shape(format!(
                "cannot reshape {} elements of shape {} to {}",
                self.len(),
                fmt_shape(&self.shape),
                fmt_shape(shape)
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            ..self.clone()
        })
    }

    /// Value `i` widened to f64 (sub-byte types unpacked, narrow floats decoded; 0 past the end).
    pub fn get_f64(&self, i: usize) -> f64 {
        let et = self.element_type;
        if et.is_sub_byte() || et.is_narrow_float() {
            let code = packed_code(self.bytes(), et, i);
            return match et {
                ElementType::I2 | ElementType::I4 => {
                    let unused = 8 - et.bitwidth();
                    (((code << unused) as i8) >> unused) as f64
                }
                _ if et.is_narrow_float() => minifloat::decode(et, code),
                _ => code as f64,
            };
        }
        crate::dispatch_scalar!(et,
            T => self.typed::<T>().ok().and_then(|s| s.get(i)).map_or(0.0, |v| v.to_f64()),
            _ => 0.0)
    }

    /// Every value widened to f64 (sub-byte types unpacked).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        crate::dispatch_scalar!(self.element_type,
            T => match self.typed::<T>() {
                Ok(s) => s.iter().map(|v| v.to_f64()).collect(),
                Err(_) => Vec::new(),
            },
            _ => (0..self.len()).map(|i| self.get_f64(i)).collect())
    }

    /// Every value as i64 (floats truncated; sub-byte types unpacked).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        crate::dispatch_scalar!(self.element_type,
            T => match self.typed::<T>() {
                Ok(s) => s.iter().map(|v| v.to_i64()).collect(),
                Err(_) => Vec::new(),
            },
            _ => (0..self.len()).map(|i| self.get_f64(i) as i64).collect())
    }

    /// A tensor of `element_type` built from f64 values (as `Scalar::from_f64` converts; narrow floats round to
    /// nearest even as [`minifloat::encode`] does; 2- and 4-bit integers keep the low bits of the truncated value).
    pub fn from_f64s(element_type: ElementType, shape: &[usize], values: &[f64]) -> Result<Tensor> {
        if values.len() != num_elements(shape) {
            return Err(Error::Internal(format!(
                "{} values for shape {}",
                values.len(),
                fmt_shape(shape)
            )));
        }
        let mut t = Tensor::zeros(element_type, shape);
        match element_type {
            ElementType::Boolean => {
                for (d, v) in t.typed_mut::<u8>()?.iter_mut().zip(values) {
                    *d = (*v != 0.0) as u8;
                }
            }
            et if et.is_sub_byte() || et.is_narrow_float() => {
                let mask = ((1u16 << et.bitwidth()) - 1) as u8;
                let bytes = t.bytes_mut();
                for (i, v) in values.iter().enumerate() {
                    let code = match et {
                        ElementType::U1 => (*v != 0.0) as u8,
                        _ if et.is_narrow_float() => minifloat::encode(et, *v),
                        // Narrowing to 2 or 4 bits wraps (keeps the low bits), as OpenVINO's Convert does.
                        _ => (*v as i64) as u8,
                    };
                    put_packed_code(bytes, et, i, code & mask);
                }
            }
            et => crate::dispatch_scalar!(et, T => {
                for (d, v) in t.typed_mut::<T>()?.iter_mut().zip(values) {
                    *d = T::from_f64(*v);
                }
            }, _ => return Err(Error::Unsupported(format!("cannot build a tensor of type {et}")))),
        }
        Ok(t)
    }

    /// A tensor of `element_type` built from i64 values.
    pub fn from_i64s(element_type: ElementType, shape: &[usize], values: &[i64]) -> Result<Tensor> {
        crate::dispatch_scalar!(element_type, T => {
            if element_type == ElementType::Boolean {
                let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
                return Tensor::from_f64s(element_type, shape, &v);
            }
            let v: Vec<T> = values.iter().map(|&x| T::from_i64(x)).collect();
            Tensor::from_vec(shape, v)
        }, _ => {
            let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
            Tensor::from_f64s(element_type, shape, &v)
        })
    }
}

/// Where value `i` of a type of at most 8 bits lies: its byte and the shift of its lowest bit (u1 is stored
/// highest bit first, the other packed types lowest bits first).
fn packed_position(et: ElementType, i: usize) -> (usize, usize) {
    let bits = et.bitwidth();
    let per_byte = 8 / bits.max(1);
    let slot = i % per_byte;
    let shift = if et == ElementType::U1 {
        7 - slot
    } else {
        slot * bits
    };
    (i / per_byte, shift)
}

/// The code of value `i` of a type of at most 8 bits (0 past the end).
fn packed_code(bytes: &[u8], et: ElementType, i: usize) -> u8 {
    let (byte, shift) = packed_position(et, i);
    let mask = ((1u16 << et.bitwidth()) - 1) as u8;
    bytes.get(byte).map_or(0, |b| (b >> shift) & mask)
}

/// Stores `code` as value `i` of a zero-initialised buffer of a type of at most 8 bits.
fn put_packed_code(bytes: &mut [u8], et: ElementType, i: usize, code: u8) {
    let (byte, shift) = packed_position(et, i);
    if let Some(b) = bytes.get_mut(byte) {
        *b |= code << shift;
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}, {})",
            self.element_type,
            fmt_shape(&self.shape)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_round_trip_and_copy_on_write() -> Result<()> {
        let a = Tensor::from_vec(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0])?;
        let mut b = a.clone();
        b.typed_mut::<f32>()?[0] = 9.0;
        assert_eq!(a.typed::<f32>()?[0], 1.0);
        assert_eq!(b.typed::<f32>()?[0], 9.0);
        assert!(a.typed::<i32>().is_err());
        Ok(())
    }

    #[test]
    fn packed_types() -> Result<()> {
        let t = Tensor::from_f64s(ElementType::U4, &[5], &[1.0, 2.0, 3.0, 4.0, 5.0])?;
        assert_eq!(t.bytes(), &[0x21, 0x43, 0x05]);
        let i = Tensor::from_f64s(ElementType::I4, &[2], &[-1.0, 7.0])?;
        assert_eq!(i.to_f64_vec(), vec![-1.0, 7.0]);
        // Out-of-range values wrap: OpenVINO converts -9 and 17 to u4 as 7 and 1, and 8 to i4 as -8.
        assert_eq!(
            Tensor::from_f64s(ElementType::U4, &[2], &[-9.0, 17.0])?.to_f64_vec(),
            vec![7.0, 1.0]
        );
        assert_eq!(
            Tensor::from_f64s(ElementType::I4, &[1], &[8.0])?.to_f64_vec(),
            vec![-8.0]
        );
        Ok(())
    }

    #[test]
    fn two_bit_types_pack_lowest_bits_first() -> Result<()> {
        // OpenVINO reads the byte 0xE4 as u2 values 0, 1, 2, 3.
        let u = Tensor::from_f64s(ElementType::U2, &[5], &[0.0, 1.0, 2.0, 3.0, 5.0])?;
        assert_eq!(u.bytes(), &[0xE4, 0x01]);
        assert_eq!(u.to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0, 1.0]);
        let i = Tensor::from_f64s(ElementType::I2, &[4], &[-2.0, -1.0, 0.0, 1.0])?;
        assert_eq!(i.bytes(), &[0x4E]);
        assert_eq!(i.to_f64_vec(), vec![-2.0, -1.0, 0.0, 1.0]);
        // Out-of-range values wrap like u4 and i4: 5 -> 1 as u2, 2 -> -2 as i2.
        assert_eq!(
            Tensor::from_f64s(ElementType::I2, &[1], &[2.0])?.to_f64_vec(),
            vec![-2.0]
        );
        Ok(())
    }

    #[test]
    fn narrow_floats_store_codes() -> Result<()> {
        let f8 = Tensor::from_f64s(ElementType::F8E4M3, &[3], &[1.0, -448.0, 0.3])?;
        assert_eq!(f8.bytes(), &[0x38, 0xFE, 0x2A]);
        assert_eq!(f8.to_f64_vec(), vec![1.0, -448.0, 0.3125]);
        assert_eq!(f8.get_f64(7), 0.0);
        let f4 = Tensor::from_f64s(ElementType::F4E2M1, &[3], &[0.5, -6.0, 3.0])?;
        assert_eq!(f4.bytes(), &[0xF1, 0x05]);
        assert_eq!(f4.to_f64_vec(), vec![0.5, -6.0, 3.0]);
        assert_eq!(f4.to_i64_vec(), vec![0, -6, 3]);
        Ok(())
    }

    /// A file holding `lead` bytes of 0xFF and then the f32 values 0, 1, 2, ... (`count` of them), mapped.
    fn mapped_values(name: &str, lead: usize, count: usize) -> Arc<memmap2::Mmap> {
        let path = std::env::temp_dir().join(format!("ferrovino-{name}-{}", std::process::id()));
        let mut bytes = vec![0xFF; lead];
        bytes.extend((0..count).flat_map(|i| (i as f32).to_le_bytes()));
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        std::fs::remove_file(&path).unwrap();
        Arc::new(map)
    }

    #[test]
    fn misaligned_file_regions_read_right_and_copy_only_when_kept() -> Result<()> {
        let count = 3000; // three pages, so releasing has whole pages to drop
        let want: Vec<f32> = (0..count).map(|i| i as f32).collect();
        let map = mapped_values("misaligned", 3, count);
        let t = Tensor::from_mapped(ElementType::F32, &[count], map, 3, count * 4)?;
        // A one-time read copies into the caller's vector and leaves no copy in the tensor.
        assert!(matches!(t.typed_or_copied::<f32>()?, Cow::Owned(ref v) if v == &want));
        assert!(matches!(t.typed_or_copied::<f32>()?, Cow::Owned(_)));
        t.release_mapped_pages();
        // A kept read makes the aligned copy once; one-time reads borrow it from then on.
        assert_eq!(t.typed::<f32>()?, &want[..]);
        assert!(matches!(t.typed_or_copied::<f32>()?, Cow::Borrowed(v) if v == &want[..]));
        assert_eq!(t.bytes().len(), count * 4);
        assert_eq!(t.to_f64_vec()[count - 1], (count - 1) as f64);
        // Writing copies first (the map is read-only).
        let mut w = t.clone();
        w.typed_mut::<f32>()?[0] = 7.0;
        assert_eq!((w.typed::<f32>()?[0], t.typed::<f32>()?[0]), (7.0, 0.0));
        Ok(())
    }

    #[test]
    fn aligned_file_regions_are_borrowed_and_readable_after_release() -> Result<()> {
        let count = 2500;
        let want: Vec<f32> = (0..count).map(|i| i as f32).collect();
        let map = mapped_values("aligned", 8, count);
        let t = Tensor::from_mapped(ElementType::F32, &[count], map, 8, count * 4)?;
        assert!(matches!(t.typed_or_copied::<f32>()?, Cow::Borrowed(v) if v == &want[..]));
        let before = t.typed::<f32>()?;
        t.release_mapped_pages();
        // Borrows taken before the release read the same values (mapped back from the file).
        assert_eq!(before, &want[..]);
        assert_eq!(t.typed::<f32>()?, &want[..]);
        // Owned memory ignores the release.
        let owned = Tensor::from_slice(&[count], &want)?;
        owned.release_mapped_pages();
        assert_eq!(owned.typed::<f32>()?, &want[..]);
        assert!(matches!(owned.typed_or_copied::<f32>()?, Cow::Borrowed(_)));
        Ok(())
    }
}
