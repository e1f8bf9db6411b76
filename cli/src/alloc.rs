//! The process's allocator: the system's, asking the kernel to back large blocks with huge
//! pages.
//!
//! `prepare` fills hundreds of MB of tables and buffers, each page of which costs a page fault
//! the first time it is touched (and, on a virtual machine, often a fault on the host too).
//! Where the kernel allows transparent huge pages on request (`madvise` mode, a common
//! default), one fault brings in 2 MiB instead of 4 KiB: on a 1 GiB input this took the page
//! faults of a run from about 134,000 to 51,000, and its system time down by about 8% (see
//! `specs/backdoor-generation.md` §5).

use std::alloc::{GlobalAlloc, Layout, System};

/// The size of a huge page.
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with blocks of a huge page or more marked for huge pages.
pub(crate) struct HugePages;

// SAFETY: every block comes from, and goes back to, the system allocator unchanged; the hint
// only changes how the kernel backs the block's pages, not their contents.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.realloc(ptr, layout, new_size) };
        advise(ptr, new_size);
        ptr
    }
}

/// Marks the pages of the `len` bytes at `ptr` for huge pages (not those of a block smaller than
/// one, or a null one). A large block has a mapping of its own, which the kernel places on a
/// huge-page boundary, so the mark covers its pages from the first; within a shared heap, the
/// kernel uses huge pages only where a whole one lies in the marked range. Only a hint: a kernel
/// without them ignores it.
fn advise(ptr: *mut u8, len: usize) {
    if len < HUGE_PAGE || ptr.is_null() {
        return;
    }
    const PAGE: usize = 4096;
    let start = ptr as usize / PAGE * PAGE;
    let end = (ptr as usize + len).next_multiple_of(PAGE);
    #[cfg(target_os = "linux")]
    // SAFETY: the pages hold the block; MADV_HUGEPAGE changes no contents, of it or of any
    // neighbour sharing its first or last page.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, end);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The `THPeligible` line of the mapping in /proc/self/smaps that holds `address`.
    fn huge_page_eligible(address: usize) -> Option<bool> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((from, to)) = range.split_once('-')
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                inside = (from..to).contains(&address);
            } else if inside && let Some(value) = line.strip_prefix("THPeligible:") {
                return Some(value.trim() == "1");
            }
        }
        None
    }

    #[test]
    fn large_blocks_are_marked_for_huge_pages_and_keep_their_bytes() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        let Ok(mode) = mode else {
            eprintln!("SKIP: this kernel has no transparent huge pages");
            return;
        };
        if mode.contains("[never]") {
            eprintln!(
                "SKIP: transparent huge pages are off on this machine ({})",
                mode.trim()
            );
            return;
        }
        if !std::fs::read_to_string("/proc/self/smaps").is_ok_and(|s| s.contains("THPeligible:")) {
            eprintln!("SKIP: /proc/self/smaps does not say which mappings may use huge pages");
            return;
        }
        let layout = Layout::from_size_align(8 * HUGE_PAGE + 123, 8).unwrap();
        // SAFETY: the layout is non-zero; the block is written within its size and freed once.
        unsafe {
            let ptr = HugePages.alloc(layout);
            assert!(!ptr.is_null());
            std::ptr::write_bytes(ptr, 7, layout.size());
            let inner = (ptr as usize).next_multiple_of(HUGE_PAGE);
            assert_eq!(huge_page_eligible(inner), Some(true), "{}", mode.trim());
            let grown = HugePages.realloc(ptr, layout, 2 * layout.size());
            assert!(!grown.is_null());
            assert!((0..layout.size()).all(|i| *grown.add(i) == 7));
            let grown_inner = (grown as usize).next_multiple_of(HUGE_PAGE);
            assert_eq!(huge_page_eligible(grown_inner), Some(true));
            HugePages.dealloc(
                grown,
                Layout::from_size_align(2 * layout.size(), 8).unwrap(),
            );
        }
    }
}
