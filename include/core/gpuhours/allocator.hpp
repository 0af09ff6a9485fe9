#pragma once
// How the process's allocator treats freed memory: set once by each program's main().

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace gpuhours {

/// Keeps freed memory in the process for the next allocation. A run simulates many steps, each
/// building and freeing task graphs and event lists of several MiB; glibc's defaults return such
/// blocks to the kernel (mmap/munmap above a sliding threshold, heap trimming above 128 KiB), and
/// the next step pays a page fault per page again: about 70% of a `check`'s time. Peak memory is
/// unchanged, since the next step reuses what the last one freed. (glibc mallopt(3).)
inline void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest; setting it also stops the threshold sliding
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace gpuhours
