/*
 * keeper_mm.c: the keeper sheds the host's memory.
 *
 * The keeper is a fork of the .NET host, so its address space is a copy-on-write image of the host's
 * (~90 MB resident, ~750 mappings for a test host), and every caller fork and every non-CLONE_VM probed
 * call copies those page tables again, then tears them down at exit: most of a probe's cost. None of it is
 * needed: after the fork only this library's code runs, it imports no other library's symbol
 * (native/allowed-symbols.txt), uses no TLS (no errno, no stack protector) and reads only its stack and the
 * MAP_SHARED area (which holds a copy of the requests). So the keeper unmaps everything else, once.
 *
 * Kept: every mapping of this library (same device and inode as the mapping holding this code) and an
 * anonymous mapping right after it (.bss), the mapping holding the stack pointer, the mapping holding the
 * thread pointer (glibc's TCB: the kernel keeps writing the rseq area registered there, which a fork
 * inherits, and kills the process with SIGSEGV if it is gone), the [vdso]/[vvar] family and [vsyscall],
 * and the ranges passed in (the shared area, our scratch). Everything else goes, including libc and the
 * runtime: a stray call into them would now fault rather than run host code in a fork. Other user memory
 * the kernel writes is not inherited by fork (robust list, clear_child_tid) or not used here (sigaltstack:
 * all handlers are SIG_DFL). With a CET shadow stack enabled nothing is shed.
 *
 * No malloc: /proc/self/maps is read into an mmap'd scratch area and its lines recorded; the complement of
 * what is kept is unmapped after the file is closed, in a few large munmaps. When anything is uncertain
 * (/proc unreadable, too many mappings, our own mapping not found) the keeper just stays big.
 */
#include "probe_internal.h"

#include <asm/prctl.h> /* ARCH_GET_FS */

#ifndef ARCH_SHSTK_STATUS
#define ARCH_SHSTK_STATUS 0x5005 /* arch/x86/include/uapi/asm/prctl.h, since 6.6 (older kernels: EINVAL) */
#endif

#define SCRATCH_BYTES (512 * 1024)
#define READ_BYTES (64 * 1024)
#define KEEP_CAPACITY 64

typedef struct map_line {
    uint64_t start;
    uint64_t end;
    uint64_t dev;
    uint64_t inode;
    int32_t special; /* [vdso], [vvar], [vvar_vclock], [vsyscall] */
    int32_t anonymous; /* no inode and no name */
} map_line;

static int starts_with(const char *s, const char *end, const char *prefix)
{
    while (*prefix) {
        if (s >= end || *s != *prefix)
            return 0;
        s++;
        prefix++;
    }
    return 1;
}

static const char *parse_hex(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (; p < end; p++) {
        char c = *p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            break;
    }
    *out = v;
    return p;
}

static const char *parse_dec(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *out = v;
    return p;
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && *p == ' ')
        p++;
    return p;
}

static const char *skip_field(const char *p, const char *end)
{
    while (p < end && *p != ' ')
        p++;
    return skip_spaces(p, end);
}

/* "start-end perms offset major:minor inode   [name]" */
static void parse_line(const char *p, const char *end, map_line *line)
{
    uint64_t major = 0, minor = 0;
    p = parse_hex(p, end, &line->start);
    if (p < end && *p == '-')
        p++;
    p = parse_hex(p, end, &line->end);
    p = skip_spaces(p, end);
    p = skip_field(p, end); /* perms */
    p = skip_field(p, end); /* offset */
    p = parse_hex(p, end, &major);
    if (p < end && *p == ':')
        p++;
    p = parse_hex(p, end, &minor);
    line->dev = major << 32 | minor;
    p = skip_spaces(p, end);
    p = parse_dec(p, end, &line->inode);
    p = skip_spaces(p, end);
    line->special = starts_with(p, end, "[vdso]") || starts_with(p, end, "[vvar]") ||
                    starts_with(p, end, "[vvar_vclock]") || starts_with(p, end, "[vsyscall]");
    line->anonymous = line->inode == 0 && p == end;
}

/* Reads /proc/self/maps into `lines`; returns the number recorded (at most `capacity`), or -errno. */
static long read_maps(char *buf, map_line *lines, long capacity)
{
    long fd = fl_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fd;
    long count = 0;
    long have = 0;
    for (;;) {
        long n = fl_read((int)fd, buf + have, READ_BYTES - have);
        if (n < 0) {
            fl_close((int)fd);
            return n;
        }
        have += n;
        long begin = 0;
        for (long i = 0; i < have; i++) {
            if (buf[i] != '\n')
                continue;
            if (count < capacity)
                parse_line(buf + begin, buf + i, &lines[count++]);
            begin = i + 1;
        }
        /* keep the partial line for the next read */
        for (long i = begin; i < have; i++)
            buf[i - begin] = buf[i];
        have -= begin;
        if (n == 0 || count >= capacity || have == READ_BYTES)
            break;
    }
    fl_close((int)fd);
    return count;
}

/* A sorted, merged list of address ranges to keep. */
typedef struct keep_list {
    uint64_t start[KEEP_CAPACITY];
    uint64_t end[KEEP_CAPACITY];
    int count;
    int overflow;
} keep_list;

static void keep_add(keep_list *k, uint64_t start, uint64_t end)
{
    start &= ~(uint64_t)4095;
    end = (end + 4095) & ~(uint64_t)4095;
    if (start >= end)
        return;
    if (k->count == KEEP_CAPACITY) {
        k->overflow = 1;
        return;
    }
    int i = k->count++;
    while (i > 0 && k->start[i - 1] > start) { /* insertion sort by start */
        k->start[i] = k->start[i - 1];
        k->end[i] = k->end[i - 1];
        i--;
    }
    k->start[i] = start;
    k->end[i] = end;
}

/* The address the thread pointer (FS base) holds: glibc's TCB, where the kernel writes the rseq area. */
static uint64_t thread_pointer(void)
{
    uint64_t fs = 0;
    if (FL_SYS2(__NR_arch_prctl, ARCH_GET_FS, &fs) < 0)
        return 0;
    return fs;
}

/* A user shadow stack (CET) lives in an anonymous mapping we could not tell apart: then keep everything. */
static int shadow_stack_enabled(void)
{
    uint64_t features = 0;
    return FL_SYS2(__NR_arch_prctl, ARCH_SHSTK_STATUS, &features) == 0 && features != 0;
}

void fl_keeper_shed_host_memory(const void *keep, size_t keep_len)
{
    if (shadow_stack_enabled())
        return;
    long scratch = fl_mmap(SCRATCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (scratch < 0 && scratch > -4096)
        return;
    char *buf = (char *)scratch;
    keep_list *keeps = (keep_list *)(buf + READ_BYTES);
    map_line *lines = (map_line *)(buf + READ_BYTES + sizeof(keep_list));
    const long capacity = (long)((SCRATCH_BYTES - READ_BYTES - sizeof(keep_list)) / sizeof(map_line));

    long count = read_maps(buf, lines, capacity);
    if (count <= 0 || count >= capacity) /* unreadable, or more mappings than we can judge: keep all */
        goto out;

    volatile char on_stack = 0;
    const uint64_t sp = (uint64_t)(uintptr_t)&on_stack;
    const uint64_t code = (uint64_t)(uintptr_t)&fl_keeper_shed_host_memory;
    const uint64_t tp = thread_pointer();

    /* this library's file: the mapping holding this very code */
    uint64_t lib_dev = 0, lib_inode = 0;
    for (long i = 0; i < count; i++)
        if (lines[i].start <= code && code < lines[i].end) {
            lib_dev = lines[i].dev;
            lib_inode = lines[i].inode;
        }
    if (lib_inode == 0 || tp == 0)
        goto out; /* cannot tell what to keep: keep everything */

    keeps->count = 0;
    keeps->overflow = 0;
    keep_add(keeps, (uint64_t)(uintptr_t)keep, (uint64_t)(uintptr_t)keep + keep_len);
    keep_add(keeps, (uint64_t)scratch, (uint64_t)scratch + SCRATCH_BYTES);
    uint64_t lib_end = 0;
    for (long i = 0; i < count; i++) {
        const map_line *l = &lines[i];
        int is_lib = l->dev == lib_dev && l->inode == lib_inode;
        int is_bss = l->anonymous && lib_end != 0 && l->start == lib_end && l->end - l->start <= 65536;
        int holds_sp = l->start <= sp && sp < l->end;
        int holds_tp = l->start <= tp && tp < l->end; /* rseq: the kernel writes it on every resume */
        if (is_lib || is_bss)
            lib_end = l->end;
        if (is_lib || is_bss || holds_sp || holds_tp || l->special)
            keep_add(keeps, l->start, l->end);
    }
    if (keeps->overflow)
        goto out;

    /* Unmap the complement of the keeps over the whole user range the maps cover: a few large munmaps
       (holes inside a range are fine for munmap). */
    uint64_t cursor = lines[0].start;
    uint64_t top = 0;
    for (long i = 0; i < count; i++)
        if (!lines[i].special && lines[i].end > top)
            top = lines[i].end;
    for (int i = 0; i <= keeps->count; i++) {
        uint64_t next = i < keeps->count ? keeps->start[i] : top;
        if (next > top)
            next = top;
        if (next > cursor)
            fl_munmap((void *)(uintptr_t)cursor, next - cursor);
        if (i < keeps->count && keeps->end[i] > cursor)
            cursor = keeps->end[i];
    }
out:
    fl_munmap(buf, SCRATCH_BYTES);
}
