//! The hand-written NDIS 6.30 / NT ABI used by vmqnic (x64).
//!
//! wdk-sys has no NDIS bindings, so every structure the driver reads or writes is written here
//! as `#[repr(C)]` (or `#[repr(C, packed(4))]` for the `CM_*` resource lists), with C names kept
//! so that they grep-match Microsoft's headers and docs. Each structure carries a compile-time
//! assertion of its size and of **every** field offset, with the values taken from
//! `ndis-vmq-spec.md` §3 (x64). Windows integer types are spelled as fixed-width Rust types
//! (`ULONG = u32`, never `c_ulong`, which is 64-bit on Linux), so the layouts are identical on
//! x86_64 Linux and x64 Windows and the assertions run in every Linux build.
//!
//! Imports of ndis.sys are declared once in the `imports` module, which also emits one function-pointer
//! type per import in [`sig`]; the simulated ndis.sys used by the tests assigns each of its
//! exports to a constant of that type, so any signature drift is a compile error.

#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, clippy::upper_case_acronyms)]

use core::ffi::c_void;

mod attributes;
mod config;
mod constants;
mod handlers;
mod header;
mod imports;
mod mm;
mod nbl;
mod oid;
mod resources;
mod rss;
mod sync;
mod vmq;

pub use attributes::*;
pub use config::*;
pub use constants::*;
pub use handlers::*;
pub use header::*;
pub use imports::*;
pub use mm::*;
pub use nbl::*;
pub use oid::*;
pub use resources::*;
pub use rss::*;
pub use sync::*;
pub use vmq::*;

/// `UCHAR`.
pub type UCHAR = u8;
/// `USHORT`.
pub type USHORT = u16;
/// `CSHORT` (`short`; the `Size` and `MdlFlags` of an MDL).
pub type CSHORT = i16;
/// `ULONG` (32 bits on Windows; never `c_ulong`).
pub type ULONG = u32;
/// `LONG`.
pub type LONG = i32;
/// `ULONG64` / `ULONGLONG`.
pub type ULONG64 = u64;
/// `BOOLEAN` (one byte; `TRUE` = 1).
pub type BOOLEAN = u8;
/// `WCHAR` (UTF-16 code unit; never `wchar_t`, which is 32-bit on Linux).
pub type WCHAR = u16;
/// `ULONG_PTR`.
pub type ULONG_PTR = usize;
/// `SIZE_T`.
pub type SIZE_T = usize;
/// `KAFFINITY`: a processor bit mask within one processor group.
pub type KAFFINITY = usize;
/// `KIRQL`.
pub type KIRQL = u8;
/// `KSPIN_LOCK` (`ULONG_PTR`): the lock word of a kernel spin lock.
pub type KSPIN_LOCK = usize;
/// `KPROCESSOR_MODE` (`CCHAR`): `KernelMode` or `UserMode`.
pub type KPROCESSOR_MODE = i8;
/// `PHYSICAL_ADDRESS` (`LARGE_INTEGER`).
pub type PHYSICAL_ADDRESS = i64;
/// `NTSTATUS`.
pub type NTSTATUS = i32;
/// `NDIS_STATUS` (NTSTATUS-compatible).
pub type NDIS_STATUS = i32;
/// `NDIS_HANDLE`: an opaque pointer owned by NDIS or by the driver.
pub type NDIS_HANDLE = *mut c_void;
/// `PVOID`.
pub type PVOID = *mut c_void;
/// `NDIS_OID`.
pub type NDIS_OID = u32;
/// `NDIS_PORT_NUMBER`.
pub type NDIS_PORT_NUMBER = u32;
/// `NDIS_RECEIVE_QUEUE_ID`.
pub type NDIS_RECEIVE_QUEUE_ID = u32;
/// `NDIS_RECEIVE_FILTER_ID`.
pub type NDIS_RECEIVE_FILTER_ID = u32;
/// `NDIS_RECEIVE_QUEUE_GROUP_ID`.
pub type NDIS_RECEIVE_QUEUE_GROUP_ID = u32;
/// `NODE_REQUIREMENT`.
pub type NODE_REQUIREMENT = u32;

/// Compile-time layout assertion: the size of a type and the offset of each named field.
///
/// ```ignore
/// assert_layout!(NDIS_OBJECT_HEADER, size 0x4, { Type: 0x0, Revision: 0x1, Size: 0x2 });
/// ```
///
/// A wrong number is a build error ("evaluation of constant value failed"), so the layouts are
/// proven by every `cargo build`, on Linux as on Windows.
macro_rules! assert_layout {
    ($t:ty, size $size:expr, { $($field:ident $(. $sub:ident)*: $off:expr),* $(,)? }) => {
        const _: () = {
            assert!(::core::mem::size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            $(
                assert!(
                    ::core::mem::offset_of!($t, $field $(. $sub)*) == $off,
                    concat!("offset of ", stringify!($t), ".", stringify!($field $(. $sub)*))
                );
            )*
        };
    };
}
pub(crate) use assert_layout;

/// Converts an NTSTATUS-style code written as its unsigned hex value (as Microsoft's headers and
/// docs print it) into the signed `NDIS_STATUS` the ABI uses.
#[must_use]
pub const fn status_from_code(code: u32) -> NDIS_STATUS {
    code.cast_signed()
}

/// `NT_SUCCESS`-style test for an `NDIS_STATUS`: success and informational codes are >= 0.
#[must_use]
pub const fn status_is_success(status: NDIS_STATUS) -> bool {
    status >= 0
}
