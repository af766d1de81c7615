//! Kernel-only pieces (`cfg(windows)`): the panic handler, the global allocator and the
//! `ndis.lib` link. Kept deliberately tiny because it is type-checked only by a Windows build.

// wdk-panic: every panic becomes bug check 0x52504E43 ("RPNC") with the source location. The
// driver's data path and every handler of NDIS, registry or device input are panic-free by
// design; this handler is the last line, not a recovery path.
extern crate wdk_panic;

use wdk_alloc::WdkAllocator;

/// Non-paged pool allocations (valid at IRQL <= DISPATCH_LEVEL), pool tag "rust". The driver
/// never boxes over-aligned types: WdkAllocator ignores alignment beyond the pool's 16 bytes.
#[global_allocator]
static GLOBAL_ALLOCATOR: WdkAllocator = WdkAllocator;

// `ndis.lib` is linked by the `#[link]` attribute on the import block in `ndis::imports`;
// wdk-build already puts the WDK's `km/<arch>` library directory on the search path.
