//! Returning freed heap to the operating system between documents.
//!
//! glibc keeps memory a thread freed in that thread's arena for reuse, so a worker slot's resident memory grows to
//! the sum of the largest allocations of different documents (a 300-dpi letter's page images, then a photographed
//! receipt's detector maps) even though each document frees everything. Measured over six normal pages on one
//! slot (`auto`, release): 257 MB peak RSS without a trim between documents, against 229 MB for the largest page
//! alone (docs/tuning.md, memory per worker slot).

/// Releases the free memory of every malloc arena (`malloc_trim(0)`); does nothing off glibc.
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and returns the allocator's free chunks; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
