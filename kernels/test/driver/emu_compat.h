#pragma once
#ifndef EMU_HAS_CHECKED
#include <map>
#include <cstdlib>
inline std::map<uintptr_t, size_t> emu_compat_allocs;
inline void* emu_dev_alloc(size_t n) { void* p = std::aligned_alloc(256, (n + 255) / 256 * 256); if (p) emu_compat_allocs[(uintptr_t)p] = n; return p; }
inline void emu_dev_free(void* p) { emu_compat_allocs.erase((uintptr_t)p); std::free(p); }
inline bool emu_dev_contains(const void* p, size_t n) {
    auto a = (uintptr_t)p; auto it = emu_compat_allocs.upper_bound(a);
    if (it == emu_compat_allocs.begin()) return false; --it; return a + n <= it->first + it->second; }
inline const char* emu_last_error() { return ""; }
template <class... P, class... A> int emu_launch_checked(const char*, void (*k)(P...), EmuDim g, EmuDim b, size_t dyn, size_t, A... a) {
    emu_launch(k, g, b, dyn, a...); return 0; }
#endif
